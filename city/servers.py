"""Attach, detach and list district servers: CREATE SERVER / USER MAPPING / IMPORT FOREIGN SCHEMA.

A district is its 6-digit county code (GB/T 2260, e.g. 320102 玄武区). Attaching it creates, in the city
database, the foreign server ``gp_district_<code>`` (host, port, database, a short ``connect_timeout``), a user
mapping with the read-only district role and password from ``core.config.city_settings()`` (never from the
command line or the code), and the schema ``gp_district_<code>`` of foreign tables imported from the district's
``public`` schema. The catalog is the registry: the district's name is the server's comment, so nothing of
this needs a migration, and detaching is dropping the server and the schema.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.config import city_settings
from core.errors import DuplicateCode, GridPulseError, InvalidInput, NotFound
from core.viewer import Viewer
from blockdata import audit

PREFIX = "gp_district_"
DISTRICT_CODE = re.compile(r"^\d{6}$")
HOST = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
DBNAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
# What the city reads of a district: the views migrations 0012 and 0016 made for it (figures per community; open
# passages of known people, in built-in types so postgres_fdw pushes joins and filters down; the real-time
# population per community), and to match and authorise a person: people (by the ID number's keyed hash) and
# their ties to dwellings, buildings and grids.
# Nothing else crosses: no accounts, audit log, face templates, raw events of strangers or denials.
FEDERATED_TABLES = ("city_community_figures", "city_passage", "city_community_live", "person", "relation", "dwelling",
                    "building", "grid")
# Roles of the city's own services that read the foreign tables (created by scripts/bootstrap.sh roles).
READER_ROLES = ("gridpulse_app",)


class DistrictUnreachable(GridPulseError):
    """A district server did not answer (down, refused, or past its connect_timeout)."""


@dataclass(frozen=True)
class District:
    code: str
    name: str
    host: str
    port: int
    dbname: str

    @property
    def schema(self) -> str:
        """The foreign schema's name: built from the validated 6-digit code only, so safe to put into SQL."""
        return PREFIX + self.code

    @property
    def label(self) -> str:
        return f"{self.name}（{self.code}）"


def district_code(code: str) -> str:
    """The 6-digit county code of a district, from ``320102`` or its region code ``320102000000``."""
    code = (code or "").strip()
    if re.fullmatch(r"\d{6}0{6}", code):
        code = code[:6]
    if not DISTRICT_CODE.match(code) or code[4:6] == "00":
        raise InvalidInput("a district is its 6-digit county code (e.g. 320102) or its 12-digit region code "
                           "(320102000000); a city code (…00) is not a district", record=f"district {code}")
    return code


def _literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings: only the quote doubles). DDL takes no parameters."""
    return "'" + value.replace("'", "''") + "'"


def _is_unreachable(exc: DBAPIError) -> bool:
    """SQLSTATE class 08 (connection exception): postgres_fdw could not reach, or lost, the district."""
    state = getattr(exc.orig, "sqlstate", None) or ""
    return state.startswith("08")


def districts(session: Session) -> list[District]:
    """Every attached district, by code (from the catalog: the servers named gp_district_<code>)."""
    rows = session.execute(text(
        """SELECT s.srvname, coalesce(obj_description(s.oid, 'pg_foreign_server'), '') AS name,
                  (SELECT array_agg(o) FROM unnest(s.srvoptions) o) AS options
           FROM pg_foreign_server s WHERE s.srvname LIKE :p ORDER BY s.srvname"""), {"p": PREFIX + "%"}).all()
    out = []
    for row in rows:
        options = dict(o.split("=", 1) for o in row.options or [])
        code = row.srvname[len(PREFIX):]
        if DISTRICT_CODE.match(code):
            out.append(District(code, row.name or code, options.get("host", ""), int(options.get("port", "5432")),
                                options.get("dbname", "")))
    return out


def attach(session: Session, actor: Viewer, *, code: str, name: str, host: str, port: int, dbname: str) -> District:
    """Create the district's server, user mapping and foreign schema; all or nothing (one transaction).

    The import connects to the district at once, so an unreachable district or a wrong password fails here,
    with nothing created, rather than on the first city page."""
    code = district_code(code)
    name = (name or "").strip()
    if not 1 <= len(name) <= 32:
        raise InvalidInput("a district needs its name (1–32 characters, e.g. 玄武区)", record=f"district {code}")
    if not HOST.match(host or ""):
        raise InvalidInput("a host is a name or an address (letters, digits, . - :)", record=f"district {code}")
    if not 0 < int(port) < 65536:
        raise InvalidInput("a port is 1–65535", record=f"district {code}")
    if not DBNAME.match(dbname or ""):
        raise InvalidInput("a database name is letters, digits, _ and -", record=f"district {code}")
    district = District(code, name, host, int(port), dbname)
    if any(d.code == code for d in districts(session)):
        raise DuplicateCode(f"district {code} is attached already (detach it first to move it)", record=f"district {code}")
    cfg = city_settings()
    server = district.schema
    session.execute(text("CREATE EXTENSION IF NOT EXISTS postgres_fdw"))
    session.execute(text(
        f"CREATE SERVER {server} FOREIGN DATA WRAPPER postgres_fdw OPTIONS ("
        f"host {_literal(host)}, port {_literal(str(port))}, dbname {_literal(dbname)}, "
        f"connect_timeout {_literal(str(cfg.connect_timeout_s))}, application_name 'gridpulse-city', "
        # PostGIS functions and operators may run on the district (shippable), the rows come in big batches.
        "extensions 'postgis', fetch_size '10000')"))
    session.execute(text(f"COMMENT ON SERVER {server} IS {_literal(name)}"))
    mapping = f"user {_literal(cfg.district_user)}"
    if cfg.district_password:
        mapping += f", password {_literal(cfg.district_password)}"
    session.execute(text(f"CREATE USER MAPPING FOR PUBLIC SERVER {server} OPTIONS ({mapping})"))
    session.execute(text(f"CREATE SCHEMA {server}"))
    _import(session, district, FEDERATED_TABLES)
    audit.record(session, actor, "city.attach", f"district:{code}", name=name, host=host, port=int(port), dbname=dbname)
    return district


def _imported(session: Session, district: District) -> set[str]:
    """The federated tables the district's foreign schema holds now."""
    return set(session.scalars(text("SELECT foreign_table_name FROM information_schema.foreign_tables "
                                    "WHERE foreign_table_schema = :s"), {"s": district.schema}))


def _import(session: Session, district: District, tables: tuple[str, ...]) -> None:
    """IMPORT FOREIGN SCHEMA of ``tables`` from the district, checked, and readable by the app's role."""
    code, server = district.code, district.schema
    try:
        with session.begin_nested():
            session.execute(text(f"IMPORT FOREIGN SCHEMA public LIMIT TO ({', '.join(tables)}) "
                                 f"FROM SERVER {server} INTO {server}"))
    except DBAPIError as exc:  # the caller's transaction rolls back: nothing of the attach is left
        if _is_unreachable(exc):
            raise DistrictUnreachable(f"district {code} at {district.host}:{district.port}/{district.dbname} did not "
                                      f"answer: {str(exc.orig).splitlines()[0]}", record=f"district {code}") from None
        raise InvalidInput(f"district {code}'s schema could not be imported: {str(exc.orig).splitlines()[0]}",
                           record=f"district {code}") from None
    missing = sorted(set(FEDERATED_TABLES) - _imported(session, district))
    if missing:
        raise InvalidInput(f"district {code}'s database lacks {', '.join(missing)}: is it a GridPulse database "
                           "migrated to the city's version?", record=f"district {code}")
    for role in READER_ROLES:
        if session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
            session.execute(text(f"GRANT USAGE ON SCHEMA {server} TO {role}"))
            session.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {server} TO {role}"))


def refresh(session: Session, actor: Viewer, code: str) -> tuple[str, ...]:
    """Import what a district attached before its latest migration lacks (a view a later release reads, such as
    ``city_community_live`` of migration 0016); returns the tables imported (none: nothing to do, not audited)."""
    code = district_code(code)
    found = next((d for d in districts(session) if d.code == code), None)
    if found is None:
        raise NotFound(f"district {code} is not attached", record=f"district {code}")
    missing = tuple(t for t in FEDERATED_TABLES if t not in _imported(session, found))
    if missing:
        _import(session, found, missing)
        audit.record(session, actor, "city.refresh", f"district:{code}", imported=list(missing))
    return missing


def detach(session: Session, actor: Viewer, code: str) -> District:
    """Drop the district's foreign schema, server and user mapping (the district's own data is untouched)."""
    code = district_code(code)
    found = next((d for d in districts(session) if d.code == code), None)
    if found is None:
        raise NotFound(f"district {code} is not attached", record=f"district {code}")
    session.execute(text(f"DROP SCHEMA IF EXISTS {found.schema} CASCADE"))
    session.execute(text(f"DROP SERVER {found.schema} CASCADE"))
    audit.record(session, actor, "city.detach", f"district:{code}", name=found.name)
    return found


def grant_reader(session: Session, role: str | None = None) -> str:
    """Run on a district's own database: let the city's role read exactly the federated tables, nothing else
    (no accounts, no audit log, no face templates). The role itself, with its password, is the district DBA's
    ``CREATE ROLE … LOGIN PASSWORD …``; it must exist."""
    role = role or city_settings().district_user
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise InvalidInput("a role name is lower-case letters, digits and _", record=f"role {role}")
    if not session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
        raise NotFound(f"role {role} does not exist on this database's server: CREATE ROLE {role} LOGIN PASSWORD …",
                       record=f"role {role}")
    session.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    session.execute(text(f"GRANT SELECT ON {', '.join(FEDERATED_TABLES)} TO {role}"))
    return role
