"""一搜 in every page's header: a box and its results, answered on the server for the session's viewer.

The box lives in the shell (dashboard/app_factory.py), outside the pages, so its callback is
registered here once. The search itself (intake/search.py) filters by jurisdiction and audits
reads of people; this module only turns its hits into links to the drill-down, the map or the
orders page: places open in 网格, whose map shows the
grid, the building (its dwellings floor by floor) or the dwelling.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from core.errors import GridPulseError
from dashboard.session import current_viewer
from blockdata.db import transaction
from intake.search import search

KIND_LABELS = {"person": "人", "dwelling": "房", "building": "楼", "compound": "小区", "grid": "网格", "order": "工单"}


def search_box() -> html.Div:
    return html.Div(className="search", children=[
        dcc.Input(id="gp-search", type="search", placeholder="一搜：姓名、地址、房屋、小区、网格、工单号",
                  debounce=True, autoComplete="off", maxLength=100),
        html.Div(id="gp-search-results", className="search-results"),
    ])


@dash.callback(Output("gp-search-results", "children"), Input("gp-search", "value"), prevent_initial_call=True)
def run_search(query: str | None) -> Any:
    viewer = current_viewer()
    try:
        with transaction() as session:
            results = search(session, viewer, query or "")
    except GridPulseError as exc:
        return html.Div(f"无法搜索：{exc.reason}", className="search-note", id="gp-search-note")
    if not (query or "").strip():
        return []
    items = []
    for hit in results.hits:
        items.append(html.Li(className=f"search-hit hit-{hit.kind}", children=[
            html.Span(KIND_LABELS.get(hit.kind, hit.kind), className="search-kind"),
            dcc.Link(hit.label, href=hit.href, className="search-open"),
            html.Span(hit.detail, className="search-detail")]))
    note = results.note or ("" if items else "没有找到（仅在您的管辖范围内搜索）")
    return [html.Div(note, className="search-note", id="gp-search-note") if note else None,
            html.Ul(items, id="gp-search-list")]
