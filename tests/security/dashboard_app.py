"""What the dashboard's security tests share: accounts of every role over the small place hierarchy
(tests/places.py), a real app server (`python app.py`) and logged-in HTTP sessions against it.

Not a conftest: the module's fixtures are imported by name where they are used.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from sqlalchemy import select, text

from core.config import settings
from core.passwords import hash_password
from blockdata.db import transaction
from blockdata.models import Account, AuditLog
from core.viewer import Role
from tests import places as P
from tests.browser import app_server, http_login

PASSWORD = "sec-test-pass-8841"
# role → (username, jurisdiction): supervisor and worker of community A / grid A1, street over the street.
ACCOUNTS = {
    "admin": ("sec-admin", []),
    "street": ("sec-street", [P.STREET]),
    "police": ("sec-police", [P.STREET]),
    "supervisor": ("sec-sup-a", [P.COMMUNITY_A]),
    "worker": ("sec-worker-a1", [P.COMMUNITY_A + "001"]),
    "supervisor_b": ("sec-sup-b", [P.COMMUNITY_B]),
}


def make_accounts() -> dict[str, str]:
    """(Re)create the test accounts, active, with PASSWORD; role key → username."""
    digest = hash_password(PASSWORD)
    with transaction() as s:
        for key, (username, jurisdiction) in ACCOUNTS.items():
            s.execute(text("DELETE FROM account WHERE username = :u"), {"u": username})
            role = Role.supervisor if key == "supervisor_b" else Role(key)
            s.add(Account(username=username, display_name=username, role=role, jurisdiction=jurisdiction,
                          password_hash=digest, active=True))
    return {key: username for key, (username, _) in ACCOUNTS.items()}


def set_account(username: str, **values: Any) -> None:
    """Change an account in the database as an administrator would (active, role, jurisdiction)."""
    with transaction() as s:
        account = s.scalars(select(Account).where(Account.username == username)).one()
        for name, value in values.items():
            setattr(account, name, value)


@contextmanager
def dashboard(**env: str) -> Iterator[str]:
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url, **env}) as url:
        yield url


def login(url: str, username: str, next_path: str = "/") -> requests.Session:
    return http_login(url, username, PASSWORD, next_path)


def last_audit_id() -> int:
    with transaction() as s:
        return s.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()


def audit_since(first_id: int, action: str | None = None, username: str | None = None) -> list[AuditLog]:
    """Audit rows written after ``first_id`` (the ones the test caused), oldest first."""
    query = select(AuditLog).where(AuditLog.id > first_id).order_by(AuditLog.id)
    if action:
        query = query.where(AuditLog.action == action)
    if username:
        query = query.where(AuditLog.username == username)
    with transaction() as s:
        rows = list(s.scalars(query))
        for r in rows:
            s.expunge(r)
        return rows


# --- crafted Dash callbacks, as the renderer would send them ---------------------------------------


def callback(http: requests.Session, url: str, output: str, outputs: Any, inputs: list[dict], state: list[dict] | None = None,
             changed: list[str] | None = None) -> requests.Response:
    body = {"output": output, "outputs": outputs, "inputs": inputs, "state": state or [],
            "changedPropIds": changed or []}
    return http.post(url + "/_dash-update-component", json=body, timeout=30)


def wall_refresh(http: requests.Session, url: str) -> requests.Response:
    """The wall screen's refresh callback as the page itself sends it: its outputs read from Dash's own
    dependency list (so the test follows the wall's layout: KPIs, trends, ticker, map patch, heartbeat)."""
    answer = http.get(url + "/_dash-dependencies", timeout=20)
    deps = answer.json() if answer.status_code == 200 else []
    output = next((d["output"] for d in deps
                   if any(i["id"] == "wall-tick" and i["property"] == "n_intervals" for i in d["inputs"])),
                  "..kpi-population.children...ticker.children...map-patch.data...wall-beat.data..")  # refused: any key
    outs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in output.strip(".").split("...")]
    return callback(http, url, output, outs, [{"id": "wall-tick", "property": "n_intervals", "value": 1}],
                    changed=["wall-tick.n_intervals"])


def audit_table(http: requests.Session, url: str) -> requests.Response:
    return callback(http, url, "audit-table.children", {"id": "audit-table", "property": "children"},
                    [{"id": i, "property": "value", "value": None} for i in ("audit-user", "audit-action", "audit-subject")]
                    + [{"id": "audit-denied", "property": "value", "value": []}])


def drill(http: requests.Session, url: str, place: str) -> requests.Response:
    outs = [{"id": "breadcrumbs", "property": "children"}, {"id": "drill-detail", "property": "children"},
            {"id": "map-spec", "property": "data"}]
    return callback(http, url, "..breadcrumbs.children...drill-detail.children...map-spec.data..", outs,
                    [{"id": "drill-url", "property": "search", "value": f"?place={place}"}], changed=["drill-url.search"])


def page_router(http: requests.Session, url: str, path: str) -> requests.Response:
    """Dash's page router: what a browser asks for to render ``path``."""
    outs = [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}]
    return callback(http, url, ".._pages_content.children..._pages_store.data..", outs,
                    [{"id": "_pages_location", "property": "pathname", "value": path},
                     {"id": "_pages_location", "property": "search", "value": ""}], changed=["_pages_location.pathname"])


def shown(answer: requests.Response) -> str:
    return json.dumps(answer.json(), ensure_ascii=False) if answer.headers.get("Content-Type", "").startswith(
        "application/json") else answer.text
