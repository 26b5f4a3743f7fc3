"""审计: the append-only audit log, for administrators only (filter by account, action, subject).

Reading the log is not itself a read of people's records (it holds subjects as ids); the one page
guard (dashboard/page_guard.py) refuses the page and its callback to every other role.
"""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, dcc, html
from sqlalchemy import select

from core.config import settings
from dashboard.pages._common import page_viewer
from dashboard.roles import ADMIN
from dashboard.session import current_viewer
from blockdata.db import transaction
from blockdata.models import AuditLog

dash.register_page(__name__, path="/audit", name="审计", title="GridPulse 审计", order=5, roles=ADMIN)
LOCAL_TZ = ZoneInfo(settings().timezone)
LIMIT = 300
REFUSALS = ["access.denied", "login.failed", "login.throttled", "login.refused"]


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    return html.Div(className="orders", style={"maxWidth": "1500px"}, children=[
        html.Div(className="timebar", children=[
            dcc.Input(id="audit-user", placeholder="账号", debounce=True),
            dcc.Input(id="audit-action", placeholder="操作（如 access.denied）", debounce=True),
            dcc.Input(id="audit-subject", placeholder="对象（如 person:12）", debounce=True),
            dcc.Checklist(id="audit-denied", options=[{"label": "只看拒绝", "value": "denied"}], value=[]),
        ]),
        html.Div(id="audit-table"),
    ])


@dash.callback(Output("audit-table", "children"), Input("audit-user", "value"), Input("audit-action", "value"),
               Input("audit-subject", "value"), Input("audit-denied", "value"))
def table(user: str | None, action: str | None, subject: str | None, denied: list[str] | None) -> Any:
    current_viewer()
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(LIMIT)
    if user:
        query = query.where(AuditLog.username == user.strip())
    if action:
        query = query.where(AuditLog.action.startswith(action.strip()))
    if subject:
        query = query.where(AuditLog.subject.startswith(subject.strip()))
    if denied:
        query = query.where(AuditLog.action.in_(REFUSALS))
    with transaction() as session:
        rows = list(session.scalars(query))
    head = html.Tr([html.Th(h) for h in ("时间", "账号", "角色", "操作", "对象", "事由", "详情")])
    body = [html.Tr([html.Td(f"{r.at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M:%S}"), html.Td(r.username), html.Td(r.role),
                     html.Td(r.action), html.Td(r.subject), html.Td(r.reason or ""), html.Td(str(r.detail or ""))],
                    className="denied" if r.action in REFUSALS else None) for r in rows]
    return [html.P(f"最近 {len(rows)} 条（最多 {LIMIT}）"), html.Table([head, *body], className="grid-table", id="audit-rows")]
