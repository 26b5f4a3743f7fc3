"""Accounts and their duty areas (账号与责任区): create, list, disable, enable, reset a password, assign.

One module for the command line (`gridpulse accounts …`) and the admin page 账号, so both refuse the
same things with the same words and both write the same audit entries. Every change is audited in the
same transaction as the change, by the acting account (the page's admin) or a named system actor
(the command line's ``cli:<login>``); a password is never written anywhere but as its argon2 hash.

Duty areas by role (a jurisdiction is a list of codes, see core/viewer.py):

- admin: none needed (sees everything);
- street (指挥中心) and police: regions (street, district or city codes);
- supervisor (网格长): communities; the grids of those communities get them as their supervisor;
- worker (网格员): grids; those grids get them as their worker.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.errors import DuplicateCode, InvalidInput, NotFound
from core.passwords import hash_password, new_password
from core.viewer import GRID_CODE, REGION_CODE, Role, Viewer
from blockdata import audit
from blockdata.models import Account, Grid, Region, RegionLevel

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
MIN_PASSWORD = 10

# What each role's duty area is made of: region levels (or grids for a worker).
AREA_LEVELS: dict[Role, tuple[RegionLevel, ...]] = {
    Role.street: (RegionLevel.street, RegionLevel.district, RegionLevel.city),
    Role.police: (RegionLevel.street, RegionLevel.district, RegionLevel.city, RegionLevel.community),
    Role.supervisor: (RegionLevel.community,),
}
ROLE_NAMES = {Role.admin: "管理员", Role.street: "指挥中心", Role.supervisor: "网格长", Role.worker: "网格员",
              Role.police: "派出所"}


@dataclass(frozen=True)
class AccountRow:
    """An account as listed: never its password hash."""

    username: str
    display_name: str
    role: str
    jurisdiction: tuple[str, ...]
    area_names: tuple[str, ...]
    active: bool


def check_password(password: str, repeated: str | None = None) -> str:
    """A typed password: long enough, and typed the same twice (when typed twice)."""
    if repeated is not None and password != repeated:
        raise InvalidInput("the two passwords differ: type the same password twice", record="password")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters (or use --generate)",
                           record="password")
    return password


def _account(session: Session, username: str) -> Account:
    account = session.scalar(select(Account).where(Account.username == username).with_for_update())
    if account is None:
        raise NotFound(f"no account {username!r} (gridpulse accounts list)", record=f"account {username}")
    return account


def _areas(session: Session, role: Role, codes: list[str], record: str) -> list[str]:
    """The duty area's codes, checked against the role and the database; refused as a whole."""
    codes = list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    if role is Role.admin:
        if codes:
            raise InvalidInput("an admin has no duty area (it sees everything): leave --area out", record=record)
        return []
    if not codes:
        what = {Role.worker: "grid codes (15 digits)", Role.supervisor: "community codes (12 digits)"}.get(
            role, "region codes (12 digits)")
        raise InvalidInput(f"a {role.value} needs a duty area: give --area with {what}", record=record)
    if role is Role.worker:
        bad = [c for c in codes if not GRID_CODE.match(c)]
        if bad:
            raise InvalidInput(f"a worker's area is grids (15-digit codes), not {', '.join(bad)}", record=record)
        found = set(session.scalars(select(Grid.code).where(Grid.code.in_(codes))))
        missing = [c for c in codes if c not in found]
        if missing:
            raise NotFound(f"no grid {', '.join(missing)} (create grids first: gridpulse grids generate or import grids)",
                           record=record)
        return codes
    bad = [c for c in codes if not REGION_CODE.match(c)]
    if bad:
        raise InvalidInput(f"a {role.value}'s area is regions (12-digit codes), not {', '.join(bad)}", record=record)
    levels = dict(session.execute(select(Region.code, Region.level).where(Region.code.in_(codes))).tuples().all())
    missing = [c for c in codes if c not in levels]
    if missing:
        raise NotFound(f"no region {', '.join(missing)} (import regions first)", record=record)
    allowed = AREA_LEVELS[role]
    wrong = [f"{c} is a {levels[c].value}" for c in codes if levels[c] not in allowed]
    if wrong:
        raise InvalidInput(f"a {role.value}'s area is made of {'/'.join(lv.value for lv in allowed)} codes: "
                           f"{'; '.join(wrong)}", record=record)
    return codes


def _link_grids(session: Session, account: Account) -> None:
    """Keep grid.worker/supervisor_account_id in step with the account's role, duty area and state."""
    session.execute(update(Grid).where(Grid.worker_account_id == account.id).values(worker_account_id=None))
    session.execute(update(Grid).where(Grid.supervisor_account_id == account.id).values(supervisor_account_id=None))
    if account.active and account.role is Role.worker:
        session.execute(update(Grid).where(Grid.code.in_(account.jurisdiction)).values(worker_account_id=account.id))
    elif account.active and account.role is Role.supervisor:
        session.execute(update(Grid).where(Grid.community_code.in_(account.jurisdiction))
                        .values(supervisor_account_id=account.id))
    session.flush()


def active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Account)
                          .where(Account.role == Role.admin, Account.active.is_(True))) or 0


def create(session: Session, actor: Viewer, *, username: str, role: Role, area: list[str] | None = None,
           display_name: str | None = None, password: str | None = None) -> tuple[Account, str | None]:
    """A new account. With ``password`` None one is generated and returned (to be shown once), else None."""
    record = f"account {username}"
    if not USERNAME.match(username or ""):
        raise InvalidInput("a username has 2–64 letters, digits, '.', '_' or '-' and starts with a letter or digit",
                           record=record)
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise DuplicateCode("this username is taken (gridpulse accounts list)", record=record)
    codes = _areas(session, role, area or [], record)
    generated = None
    if password is None:
        generated = password = new_password(4)
    else:
        check_password(password)
    account = Account(username=username, display_name=(display_name or username).strip()[:64] or username,
                      role=role, jurisdiction=codes, password_hash=hash_password(password), active=True)
    session.add(account)
    session.flush()
    _link_grids(session, account)
    audit.record(session, actor, "account.create", f"account:{username}", role=role.value, jurisdiction=codes,
                 password="generated" if generated else "typed")
    return account, generated


def set_active(session: Session, actor: Viewer, username: str, active: bool) -> Account:
    """Disable (or enable again) an account; its grids lose (or regain) it. The last active admin stays."""
    account = _account(session, username)
    if not active and account.role is Role.admin and account.active and active_admins(session) <= 1:
        raise InvalidInput("this is the last active admin: create or enable another admin first", record=f"account {username}")
    if account.active == active:
        raise InvalidInput(f"already {'enabled' if active else 'disabled'}", record=f"account {username}")
    account.active = active
    session.flush()
    _link_grids(session, account)
    audit.record(session, actor, "account.enable" if active else "account.disable", f"account:{username}")
    return account


def reset_password(session: Session, actor: Viewer, username: str, password: str | None = None) -> str | None:
    """A new password (typed, or generated and returned to be shown once); the old one stops working."""
    account = _account(session, username)
    generated = None
    if password is None:
        generated = password = new_password(4)
    else:
        check_password(password)
    account.password_hash = hash_password(password)
    session.flush()
    audit.record(session, actor, "account.reset_password", f"account:{username}",
                 password="generated" if generated else "typed")
    return generated


def assign(session: Session, actor: Viewer, username: str, area: list[str], role: Role | None = None) -> Account:
    """Change an account's duty area (and role, when given): the whole area is replaced."""
    account = _account(session, username)
    record = f"account {username}"
    new_role = role or account.role
    if account.role is Role.admin and new_role is not Role.admin and account.active and active_admins(session) <= 1:
        raise InvalidInput("this is the last active admin: create another admin before changing its role", record=record)
    codes = _areas(session, new_role, area, record)
    before = {"role": account.role.value, "jurisdiction": list(account.jurisdiction or ())}
    account.role, account.jurisdiction = new_role, codes
    session.flush()
    _link_grids(session, account)
    audit.record(session, actor, "account.assign", f"account:{username}", before=before,
                 after={"role": new_role.value, "jurisdiction": codes})
    return account


def listing(session: Session, *, include_disabled: bool = True) -> list[AccountRow]:
    """Every account with the names of its duty area's places (for the list and the page)."""
    query = select(Account).order_by(Account.role, Account.username)
    if not include_disabled:
        query = query.where(Account.active.is_(True))
    accounts = list(session.scalars(query))
    codes = {c for a in accounts for c in (a.jurisdiction or ())}
    names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).tuples().all())
    names.update(session.execute(select(Grid.code, Grid.name).where(Grid.code.in_(codes))).tuples().all())
    return [AccountRow(a.username, a.display_name, a.role.value, tuple(a.jurisdiction or ()),
                       tuple(names.get(c, c) for c in (a.jurisdiction or ())), a.active) for a in accounts]
