"""工单: a grid worker's orders on their phone; they record what they found at the door.

The correction a finding applies is derived on the server from the order's alert (a departure →
the person is marked departed; a group rental → the dwelling is flagged), never taken from the
browser, and record_finding checks again that the order is this worker's.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import MATCH, Input, Output, State, dcc, html
from sqlalchemy import select

from analytics.work_orders import orders_for, record_finding
from core.config import local_tz
from core.errors import GridPulseError
from core.vocab import RuleName
from dashboard.session import current_viewer, viewer_or_none
from blockdata.db import transaction
from blockdata.models import Alert, WorkOrder

dash.register_page(__name__, path="/orders", name="工单", title="GridPulse 工单")

OUTCOMES = [{"label": "属实", "value": "confirmed"}, {"label": "已更正", "value": "corrected"}, {"label": "不属实", "value": "dismissed"}]


def _correction(alert: Alert | None) -> dict[str, Any] | None:
    if alert is None:
        return None
    if alert.rule == "departure" and alert.subject_kind == "person":
        return {"kind": "person_departed", "person_id": alert.subject_id}
    if alert.rule == "group_rental" and alert.subject_kind == "dwelling":
        return {"kind": "flag_group_rental", "dwelling_id": alert.subject_id}
    return None


def layout(**_query: str) -> html.Div:
    viewer = viewer_or_none()
    if viewer is None:  # layout validation at start-up; real requests are guarded by dashboard/auth.py
        return html.Div()
    with transaction() as session:
        orders = orders_for(session, viewer)
        alerts = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_([o.alert_id for o in orders if o.alert_id])))}
        cards = [_card(o, alerts.get(o.alert_id)) for o in orders]
    return html.Div(className="orders", children=[html.H2(f"我的工单（{len(cards)}）", id="orders-title"), *cards])


def _card(order, alert: Alert | None) -> html.Div:  # noqa: ANN001
    overdue = "（已超期）" if order.escalation_level else ""
    return html.Div(className="order", id=f"order-{order.id}", children=[
        html.H3(f"{RuleName.label_of(order.kind)}{overdue}"),
        html.Div(className="meta", children=f"工单 {order.id} · 截止 {order.due_at.astimezone(local_tz()):%m-%d %H:%M} · "
                                            f"置信度 {alert.confidence:.2f}" if alert else f"工单 {order.id}"),
        dcc.RadioItems(id={"type": "outcome", "order": order.id}, options=OUTCOMES, value="confirmed", inline=True),
        dcc.Textarea(id={"type": "notes", "order": order.id}, placeholder="上门核查情况"),
        html.Button("提交核查结果", id={"type": "submit", "order": order.id}, n_clicks=0),
        html.Div(id={"type": "result", "order": order.id}, className="result"),
    ])


@dash.callback(
    Output({"type": "result", "order": MATCH}, "children"),
    Input({"type": "submit", "order": MATCH}, "n_clicks"),
    State({"type": "submit", "order": MATCH}, "id"),
    State({"type": "outcome", "order": MATCH}, "value"),
    State({"type": "notes", "order": MATCH}, "value"),
    prevent_initial_call=True,
)
def submit_finding(_clicks: int, ident: dict, outcome: str, notes: str | None) -> Any:
    viewer = current_viewer()
    try:
        with transaction() as session:
            order_id = int(ident["order"])
            order = session.get(WorkOrder, order_id)
            alert = session.get(Alert, order.alert_id) if order is not None and order.alert_id else None
            correction = _correction(alert) if outcome == "corrected" else None
            record_finding(session, viewer, order_id, outcome=outcome, notes=notes or "", correction=correction)
    except GridPulseError as exc:
        return html.Span(f"未提交：{exc.reason}", className="refused")
    return "已提交，谢谢！"
