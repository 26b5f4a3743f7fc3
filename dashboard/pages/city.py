"""全市: the city's command centre over its districts, and the police's cross-district look-up.

Each district runs on its own server; this page reads them through the city database's foreign servers
(city/, docs/SCALING.md), all at once. A district that does not answer is a notice above the others' figures
("district N unreachable"), never an error page: each district's part runs on its own connection and is given
up after GRIDPULSE_DISTRICT_TIMEOUT_S. Each district's row has its residents (实有人口) and its real-time
population (实时人口: the people inside now, from the district's own maintained counters). The figures follow the viewer's jurisdiction (a district account sees its own
district); the police part asks for an ID number and a stated reason, like 警务, and is audited.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from city import police
from city.federated import CityResult, now
from city.kpis import DistrictKpis, district_kpis, totals
from city.servers import districts
from core.config import local_tz
from core.errors import GridPulseError, InvalidInput
from core.viewer import Role
from dashboard.pages._common import page_viewer
from dashboard.roles import COMMAND_AND_POLICE
from dashboard.session import current_viewer
from blockdata.db import transaction

dash.register_page(__name__, path="/city", name="全市", title="GridPulse 全市", order=2, roles=COMMAND_AND_POLICE)

REFRESH_S = 30
COLUMNS = [("residents", "实有人口"), ("realtime", "实时人口（在内）"), ("entries_hour", "近1小时进"),
           ("exits_hour", "近1小时出"), ("open_alerts", "未结预警"), ("overdue_orders", "超期工单")]


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    with transaction() as session:
        if not districts(session):
            return html.Div("本库未接入区级服务器（gridpulse city attach，见 docs/SCALING.md）", id="city-none",
                            className="refused")
        result = district_kpis(session, viewer)
    children: list[Any] = [
        html.H2("全市 · 各区"),
        html.Div(id="city-figures", children=_figures(result)),
        dcc.Interval(id="city-tick", interval=REFRESH_S * 1000),
    ]
    if viewer.role is Role.police:
        children += [
            html.H2("跨区流调 · 落脚点"),
            html.Div(className="timebar", children=[
                dcc.Input(id="city-id", type="text", placeholder="身份证号", maxLength=18, autoComplete="off"),
                dcc.Input(id="city-reason", type="text", placeholder="事由（必填，如案件编号）", style={"width": "320px"}),
                dcc.Input(id="city-until", type="text", value=now().astimezone(local_tz()).date().isoformat(),
                          placeholder="截至日期 YYYY-MM-DD", maxLength=10, style={"width": "130px"}),
                dcc.Dropdown(id="city-days", value=7, clearable=False, style={"width": "110px", "color": "#000"},
                             options=[{"label": f"近 {n} 天", "value": n} for n in (1, 3, 7)]),
                html.Button("跨区查询", id="city-run", n_clicks=0),
            ]),
            html.Div(id="city-police"),
        ]
    return html.Div(className="orders", style={"maxWidth": "1400px"}, children=children)


def _notices(result: CityResult[Any]) -> list[html.Div]:
    return [html.Div(line, className="district-down") for line in result.notices]


def _figures(result: CityResult[DistrictKpis]) -> list[Any]:
    rows = [html.Tr([html.Th("区")] + [html.Th(label) for _, label in COLUMNS])]
    for r in result.rows:
        rows.append(html.Tr([html.Td(r.district.label)] + [html.Td(f"{getattr(r, k):,}") for k, _ in COLUMNS],
                            **{"data-district": r.district.code}))
    city = totals(result)
    if city is not None:
        rows.append(html.Tr([html.Th("合计（应答各区）")] + [html.Th(f"{getattr(city, k):,}") for k, _ in COLUMNS]))
    return [html.Div(_notices(result), id="city-notices"), html.Table(rows, id="city-kpis", className="grid-table")]


@dash.callback(Output("city-figures", "children"), Input("city-tick", "n_intervals"), prevent_initial_call=True)
def refresh(_n: int) -> list[Any]:
    with transaction() as session:
        return _figures(district_kpis(session, current_viewer()))


def _end_of(day: str | None) -> dt.datetime:
    """The end of a local day given as YYYY-MM-DD (now, for today or later)."""
    try:
        date = dt.date.fromisoformat((day or "").strip())
    except ValueError:
        raise InvalidInput("截至日期 is a date like 2026-11-20", record="city-until") from None
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(0), local_tz())
    return min(end, now())


@dash.callback(Output("city-police", "children"), Output("city-id", "value"),
               Input("city-run", "n_clicks"), State("city-id", "value"), State("city-reason", "value"),
               State("city-until", "value"), State("city-days", "value"), prevent_initial_call=True)
def look_up(_n: int, id_number: str | None, reason: str | None, until: str | None, days: int) -> tuple[Any, str]:
    """Co-presence over ``days`` up to the end of the day ``until`` (local), footholds over the 30 days before
    it; the typed ID number is cleared."""
    viewer = current_viewer()
    try:
        end = _end_of(until)
        with transaction() as session:
            companions = police.co_presence(session, viewer, id_number or "", reason=reason or "",
                                            start=end - dt.timedelta(days=int(days)), end=end)
            stays = police.footholds(session, viewer, id_number or "", reason=reason or "", days=30, as_of=end)
    except GridPulseError as exc:
        return html.Div(f"无法查询：{exc.reason}", className="refused", id="city-refused"), ""
    down = {d.code: d for d in companions.unreachable + stays.unreachable}
    notices = [html.Div(f"district {c} unreachable — {d.name}无法连接，结果不含该区", className="district-down")
               for c, d in sorted(down.items())]
    co_rows = [html.Tr([html.Th(h) for h in ("姓名", "身份证号", "所在区", "同行次数", "最近间隔（秒）", "闸机")])] + [
        html.Tr([html.Td(c.name), html.Td(c.id_masked), html.Td("、".join(c.districts)), html.Td(c.encounters),
                 html.Td(f"{c.closest_seconds:.0f}"), html.Td("、".join(c.gates))]) for c in companions.rows]
    fh_rows = [html.Tr([html.Th(h) for h in ("区", "小区", "过夜", "占比")])] + [
        html.Tr([html.Td(f"{f.district_name}（{f.district}）"), html.Td(f.compound_name), html.Td(f.nights),
                 html.Td(f"{f.share:.0%}")]) for f in stays.rows]
    return html.Div([
        html.Div(notices, id="city-police-notices"),
        html.H3(f"同行人员（{len(companions.rows)}）"), html.Table(co_rows, id="city-copresence", className="grid-table"),
        html.H3("落脚点（近30天）"), html.Table(fh_rows, id="city-footholds", className="grid-table"),
    ]), ""
