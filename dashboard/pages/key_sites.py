"""重点场所: police choose key sites and a window → in/out curves, occupancy, peak and surge markers.

Counts only (no people). The CSV export needs a stated reason and is written to the audit log with
the sites and the window, like every other export.
"""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from analytics.key_sites import flows_csv, site_flows, visible_sites
from core.config import settings
from core.errors import AccessDenied, GridPulseError
from core.vocab import KeySiteCategory
from dashboard.live import replay_day
from dashboard.pages._common import page_viewer
from dashboard.roles import may_open
from dashboard.session import current_viewer
from blockdata import audit
from blockdata.db import transaction

dash.register_page(__name__, path="/key-sites", name="重点场所", title="GridPulse 重点场所", order=3)
LOCAL_TZ = ZoneInfo(settings().timezone)


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer("/key-sites")
    if refused is not None:
        return refused
    with transaction() as session:
        sites = visible_sites(session, viewer)
        day = replay_day(session) or dt.date.today()
    return html.Div(className="orders", style={"maxWidth": "1400px"}, children=[
        html.Div(className="timebar", children=[
            dcc.Dropdown(id="ks-sites", multi=True, value=[s.id for s in sites], style={"minWidth": "320px", "color": "#000"},
                         options=[{"label": f"{s.name}（{KeySiteCategory.label_of(s.category)}）", "value": s.id} for s in sites]),
            dcc.DatePickerSingle(id="ks-day", date=day.isoformat(), display_format="YYYY-MM-DD"),
            dcc.Dropdown(id="ks-days", value=1, clearable=False, style={"width": "110px", "color": "#000"},
                         options=[{"label": f"{n} 天", "value": n} for n in (1, 3, 7)]),
            dcc.Dropdown(id="ks-bucket", value=15, clearable=False, style={"width": "120px", "color": "#000"},
                         options=[{"label": f"{n} 分钟", "value": n} for n in (5, 15, 30, 60)]),
            html.Button("查询", id="ks-run", n_clicks=0),
        ]),
        html.Div(id="ks-summary"),
        dcc.Graph(id="ks-graph", figure=go.Figure(), style={"height": "560px"}, config={"displaylogo": False}),
        html.Div(className="timebar", children=[
            dcc.Input(id="ks-reason", placeholder="导出事由（必填，如案件编号）", style={"width": "360px"}),
            html.Button("导出 CSV", id="ks-export", n_clicks=0), html.Span(id="ks-export-msg"),
            dcc.Download(id="ks-download"),
        ]),
    ])


def _window(day: str, days: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(dt.date.fromisoformat(day[:10]), dt.time(0), LOCAL_TZ)
    return start, start + dt.timedelta(days=int(days))


def _viewer_for_page():  # noqa: ANN202
    viewer = current_viewer()
    if not may_open(viewer, "/key-sites"):
        from dashboard.roles import refuse_page
        refuse_page(viewer, "/key-sites")
        raise AccessDenied("key sites are for police, the command centre and administrators")
    return viewer


@dash.callback(Output("ks-graph", "figure"), Output("ks-summary", "children"),
               Input("ks-run", "n_clicks"), State("ks-sites", "value"), State("ks-day", "date"),
               State("ks-days", "value"), State("ks-bucket", "value"))
def run(_n: int, site_ids: list[int] | None, day: str, days: int, bucket: int) -> tuple[Any, Any]:
    try:
        viewer = _viewer_for_page()
        start, end = _window(day, days)
        with transaction() as session:
            flows = site_flows(session, viewer, [int(s) for s in site_ids or []], start, end, bucket_minutes=int(bucket))
    except GridPulseError as exc:
        return go.Figure(), html.Div(f"无法查询：{exc.reason}", className="refused", id="ks-refused")
    fig = go.Figure()
    for f in flows:
        xs = [b.start.astimezone(LOCAL_TZ) for b in f.buckets]
        fig.add_trace(go.Scatter(x=xs, y=[b.entries for b in f.buckets], name=f"{f.site.name} 进", mode="lines"))
        fig.add_trace(go.Scatter(x=xs, y=[b.exits for b in f.buckets], name=f"{f.site.name} 出", mode="lines"))
        fig.add_trace(go.Scatter(x=xs, y=[b.occupancy for b in f.buckets], name=f"{f.site.name} 在场", mode="lines",
                                 line={"dash": "dot"}, yaxis="y2"))
        surges = [b for b in f.buckets if b.surge]
        if surges:
            fig.add_trace(go.Scatter(x=[b.start.astimezone(LOCAL_TZ) for b in surges], y=[b.entries + b.exits for b in surges],
                                     name=f"{f.site.name} 激增", mode="markers", marker={"symbol": "triangle-up", "size": 13, "color": "#eb4034"}))
    fig.update_layout(paper_bgcolor="#0b1e3a", plot_bgcolor="#0b1e3a", font={"color": "#e6eefc"}, legend={"orientation": "h"},
                      yaxis={"title": "人次/时段"}, yaxis2={"title": "在场人数", "overlaying": "y", "side": "right"},
                      margin={"l": 50, "r": 50, "t": 20, "b": 40})
    summary = html.Table(className="grid-table", id="ks-table", children=[
        html.Tr([html.Th(h) for h in ("场所", "进", "出", "峰值在场", "峰值时间", "激增时段", "核定容量")])] + [
        html.Tr([html.Td(f.site.name), html.Td(f.total_in), html.Td(f.total_out), html.Td(f.peak_occupancy),
                 html.Td(f"{f.peak_at.astimezone(LOCAL_TZ):%m-%d %H:%M}" if f.peak_at else "—"),
                 html.Td(sum(b.surge for b in f.buckets)), html.Td(f.site.capacity or "—")]) for f in flows])
    return fig, summary


@dash.callback(Output("ks-download", "data"), Output("ks-export-msg", "children"),
               Input("ks-export", "n_clicks"), State("ks-sites", "value"), State("ks-day", "date"),
               State("ks-days", "value"), State("ks-bucket", "value"), State("ks-reason", "value"),
               prevent_initial_call=True)
def export(_n: int, site_ids: list[int] | None, day: str, days: int, bucket: int, reason: str | None) -> tuple[Any, str]:
    try:
        viewer = _viewer_for_page()
        if not reason or len(reason.strip()) < 4:
            return None, "请填写导出事由（至少4个字）"
        start, end = _window(day, days)
        with transaction() as session:
            flows = site_flows(session, viewer, [int(s) for s in site_ids or []], start, end, bucket_minutes=int(bucket))
            audit.record(session, viewer, "keysite.export", "key_site:" + ",".join(str(f.site.id) for f in flows),
                         reason=reason.strip(), start=start.isoformat(), end=end.isoformat(), bucket_minutes=int(bucket))
    except GridPulseError as exc:
        return None, f"未导出：{exc.reason}"
    name = f"key-sites-{day[:10]}-{days}d.csv"
    return {"content": flows_csv(flows, LOCAL_TZ), "filename": name, "type": "text/csv"}, f"已导出 {name}（已留痕）"
