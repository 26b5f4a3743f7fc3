"""警务: the police workbench — look a person up, then co-presence (流调), footholds (落脚点) and the
person's trajectory on the map; who is inside a key site now.

Every query states its reason and is refused without one (analytics/police.py's rules and caps,
unchanged); a look-up by ID number hashes the number on the server (the query layer), and the
number is neither kept in the page's state nor written anywhere in clear: after the look-up the
page holds only the person's internal id. The window defaults to the last day that has passages,
never an empty today. The trajectory is drawn as the day's path between the gates passed, with a
marker walking it (animated in the browser, no round trip); co-present people's gates and the
footholds are their own layers. Exports carry a watermark and are audited.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import dash
import pydeck as pdk
from sqlalchemy import text
from dash import ALL, Input, Output, State, clientside_callback, ctx, dcc, html, no_update

from analytics import police
from analytics.police_workbench import (
    day_window,
    gate_points,
    inside_now,
    key_sites_of,
    last_day_with_data,
    trajectory,
)
from core.config import local_tz
from core.errors import GridPulseError
from core.viewer import Viewer
from core.vocab import PersonTagKind, ResidenceKind, Sex
from dashboard.components.deckmap import deck_map
from dashboard.pages._common import page_viewer
from dashboard.session import current_viewer
from dashboard.roles import POLICE
from blockdata import audit, queries
from blockdata.db import transaction
from intake.exports import watermark
from layers.common import deck_spec, literal, view_for
from layers.grids import grid_outlines_layer

dash.register_page(__name__, path="/police", name="警务", title="GridPulse 警务", order=4, roles=POLICE)

PATH = "/police"
TRACK_LAYERS = ["grids", "trajectory", "passages", "trajectory_head", "copresent_gates", "footholds"]


def _viewer() -> Viewer:
    """The session's viewer (the one page guard, dashboard/page_guard.py, has already refused and audited
    every role this page does not declare, for the page and its callbacks alike)."""
    return current_viewer()


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    with transaction() as session:
        day = last_day_with_data(session) or dt.date.today()
        sites = key_sites_of(session, viewer)
    return html.Div(className="police", children=[
        html.Div(className="panel", children=[
            html.H3("查人（须填写事由，查询留痕）"),
            dcc.RadioItems(id="pw-mode", value="id", inline=True,
                           options=[{"label": "身份证号", "value": "id"}, {"label": "姓名", "value": "name"}]),
            dcc.Input(id="pw-query", type="text", placeholder="身份证号或姓名", maxLength=32, autoComplete="off"),
            dcc.Input(id="pw-reason", type="text", placeholder="事由（案件编号或目的，至少4个字）", maxLength=200),
            html.Button("查询", id="pw-lookup", n_clicks=0),
            html.Div(id="pw-found"),
        ]),
        dcc.Store(id="pw-person"),
        html.Div(className="panel", children=[
            html.H3("流调 · 落脚点 · 轨迹"),
            html.Span("日期 "), dcc.DatePickerSingle(id="pw-day", date=day.isoformat(), display_format="YYYY-MM-DD"),
            html.Span(" 时间窗 ±"),
            dcc.Dropdown(id="pw-window", value=2, clearable=False, searchable=False, style={"width": "120px", "display": "inline-block", "color": "#000"},
                         options=[{"label": f"{m} 分钟", "value": m} for m in (1, 2, 5, 10, police.MAX_WINDOW_MIN)]),
            html.Span(" 落脚点回看 "),
            dcc.Dropdown(id="pw-days", value=30, clearable=False, searchable=False, style={"width": "120px", "display": "inline-block", "color": "#000"},
                         options=[{"label": f"{d} 天", "value": d} for d in (7, 30, 90)]),
            html.Div([
                html.Button("同行分析（流调）", id="pw-copresence", n_clicks=0),
                html.Button("落脚点", id="pw-footholds", n_clicks=0, style={"marginLeft": "8px"}),
                html.Button("导出结果（水印、留痕）", id="pw-export", n_clicks=0, style={"marginLeft": "8px"}),
            ], style={"marginTop": "8px"}),
            html.Div(id="pw-results"),
            dcc.Download(id="pw-download"),
            dcc.Store(id="pw-export-rows"),
            dcc.Store(id="pw-track"),
            dcc.Interval(id="pw-tick", interval=800, disabled=True),
            deck_map(None, TRACK_LAYERS, height="420px", legend=False, warm_pick=False),
        ]),
        html.Div(className="panel", children=[
            html.H3("重点场所：当前在场人员"),
            dcc.Dropdown(id="pw-site", options=[{"label": n, "value": i} for i, n in sites],
                         value=sites[0][0] if sites else None, clearable=False, style={"color": "#000", "maxWidth": "360px"}),
            dcc.Input(id="pw-site-reason", type="text", placeholder="事由（至少4个字）", maxLength=200),
            html.Button("查看在场人员", id="pw-inside", n_clicks=0),
            html.Div(id="pw-inside-result"),
        ]),
    ])


def _person_card(p: queries.PersonView) -> html.Div:
    return html.Div(id="pw-record", children=[
        html.Div(f"{p.name} · {Sex.label_of(p.sex, '')} · {p.age}岁 · {ResidenceKind.label_of(p.residence_kind)}"),
        html.Div(f"身份证号：{p.id_masked}"), html.Div(f"标签：{'、'.join(PersonTagKind.label_of(t) for t in p.tags) or '无'}"),
    ])


@dash.callback(Output("pw-found", "children"), Output("pw-person", "data"), Output("pw-query", "value"),
               Input("pw-lookup", "n_clicks"), State("pw-mode", "value"), State("pw-query", "value"),
               State("pw-reason", "value"), prevent_initial_call=True)
def lookup(_n: int, mode: str, query: str | None, reason: str | None) -> tuple[Any, Any, Any]:
    """The typed ID number is cleared from the page as soon as it has been looked up."""
    clear = "" if mode == "id" else no_update
    try:
        viewer = _viewer()
        with transaction() as session:
            if mode == "id":
                found = queries.person_by_id_number(session, viewer, (query or "").strip(), reason=reason or "")
                if found is None:
                    return html.Div("未找到此身份证号对应的人员（查询已留痕）", id="pw-none"), None, clear
                return _person_card(found), found.id, clear
            hits = queries.people_by_name(session, viewer, query or "", reason=reason or "")
    except GridPulseError as exc:
        return html.Div(f"未查询：{exc.reason}", className="refused", id="pw-refused"), None, clear
    if not hits:
        return html.Div("您的辖区内没有此姓名的人员（查询已留痕）", id="pw-none"), None, clear
    return html.Ul(id="pw-hits", children=[html.Li([
        html.Button(f"{h.person.name}（{h.person.id_masked}，{h.person.age}岁）",
                    id={"type": "pw-pick", "person": h.person.id}, n_clicks=0, className="pick")]) for h in hits]), None, clear


@dash.callback(Output("pw-person", "data", allow_duplicate=True), Output("pw-found", "children", allow_duplicate=True),
               Input({"type": "pw-pick", "person": ALL}, "n_clicks"), State("pw-reason", "value"), prevent_initial_call=True)
def pick(clicks: list[int], reason: str | None) -> tuple[Any, Any]:
    if not any(clicks) or not isinstance(ctx.triggered_id, dict):
        return no_update, no_update
    person_id = int(ctx.triggered_id["person"])
    try:
        viewer = _viewer()
        with transaction() as session:
            p = queries.person(session, viewer, person_id, reason=reason)
    except GridPulseError as exc:
        return None, html.Div(f"未查询：{exc.reason}", className="refused", id="pw-refused")
    return person_id, _person_card(p)


def _window(day: str | None) -> tuple[dt.datetime, dt.datetime]:
    return day_window(dt.date.fromisoformat((day or dt.date.today().isoformat())[:10]))


def _track_layers(passages: list, gates: dict[int, tuple[str, float, float]], spots: list[dict]) -> list[pdk.Layer]:
    tz = local_tz()
    segments = [{"source": [a.lon, a.lat], "target": [b.lon, b.lat]} for a, b in zip(passages, passages[1:])]
    points = [{"position": [p.lon, p.lat], "tip": f"{p.ts.astimezone(tz):%H:%M} {p.place}{p.gate} {'进' if p.direction == 'in' else '出'}"}
              for p in passages]
    return [
        pdk.Layer("LineLayer", data=segments, id="trajectory", get_source_position="source", get_target_position="target",
                  get_color=[255, 170, 60, 230], get_width=3, width_units=literal("pixels")),
        pdk.Layer("ScatterplotLayer", data=points, id="passages", get_position="position", get_radius=6,
                  radius_units=literal("pixels"), get_fill_color=[255, 214, 102, 255], pickable=True),
        pdk.Layer("ScatterplotLayer", data=points[:1], id="trajectory_head", get_position="position", get_radius=11,
                  radius_units=literal("pixels"), get_fill_color=[235, 64, 52, 255], stroked=True,
                  get_line_color=[255, 255, 255, 255], line_width_min_pixels=2),
        pdk.Layer("ScatterplotLayer", data=[{"position": [lon, lat], "tip": f"同行闸机：{name}"} for name, lon, lat in gates.values()],
                  id="copresent_gates", get_position="position", get_radius=14, radius_units=literal("pixels"),
                  get_fill_color=[190, 120, 255, 120], stroked=True, get_line_color=[190, 120, 255, 255],
                  line_width_min_pixels=2, pickable=True),
        pdk.Layer("ScatterplotLayer", data=spots, id="footholds", get_position="position", get_radius="radius",
                  radius_units=literal("pixels"), get_fill_color=[80, 220, 140, 160], pickable=True),
    ]


def _map(passages: list, gates: dict, spots: list[dict]) -> dict[str, Any]:
    xs = [p.lon for p in passages] + [g[1] for g in gates.values()] + [s["position"][0] for s in spots]
    ys = [p.lat for p in passages] + [g[2] for g in gates.values()] + [s["position"][1] for s in spots]
    box = (min(xs) - 0.002, min(ys) - 0.002, max(xs) + 0.002, max(ys) + 0.002) if xs else None
    view = view_for(box, pitch=0)
    if box is not None:  # view_for fits a wide screen; this map is 420 px high: one and a half levels out
        view = view_for(box, pitch=0, zoom=max(3.0, view.zoom - 1.5))
    # the grids' outlines (the cached route) give the path its streets
    spec = deck_spec([grid_outlines_layer("/layers/grid_outlines.json"), *_track_layers(passages, gates, spots)], view)
    spec["viewKey"] = f"police-{len(xs)}-{xs[:1]}"
    return spec


@dash.callback(Output("pw-results", "children"), Output("map-spec", "data"), Output("pw-track", "data"),
               Output("pw-tick", "disabled"), Output("pw-export-rows", "data"),
               Input("pw-copresence", "n_clicks"), Input("pw-footholds", "n_clicks"),
               State("pw-person", "data"), State("pw-day", "date"), State("pw-window", "value"), State("pw-days", "value"),
               State("pw-reason", "value"), prevent_initial_call=True)
def analyse(_c: int, _f: int, person_id: int | None, day: str | None, window: int, days: int,
            reason: str | None) -> tuple[Any, ...]:
    if not person_id:
        return html.Div("请先查到一个人", className="refused", id="pw-refused"), no_update, no_update, no_update, no_update
    start, end = _window(day)
    tz = local_tz()
    try:
        viewer = _viewer()
        with transaction() as session:
            if ctx.triggered_id == "pw-footholds":
                spots = police.footholds(session, viewer, int(person_id), reason=reason or "", days=int(days), as_of=end)
                centres = _compound_points(session, [f.compound_id for f in spots])
                rows = [{"rank": i + 1, "place": f.compound_name, "nights": f.nights, "share": f.share}
                        for i, f in enumerate(spots)]
                spot_rows = [{"position": centres[f.compound_id], "radius": 8 + 20 * f.share,
                              "tip": f"落脚点 {i + 1}：{f.compound_name}，{f.nights} 晚"} for i, f in enumerate(spots) if f.compound_id in centres]
                table = _table(["排名", "小区", "夜数", "占比"], [[r["rank"], r["place"], r["nights"], f"{r['share']:.0%}"] for r in rows], "pw-footholds-table")
                return ([html.H4(f"落脚点（近 {days} 天，按夜数排名）"), table], _map([], {}, spot_rows), [], True,
                        {"kind": "footholds", "person": person_id, "rows": rows})
            found = police.co_presence(session, viewer, int(person_id), reason=reason or "", start=start, end=end,
                                       window_minutes=int(window))
            passages = trajectory(session, viewer, int(person_id), reason=reason or "", start=start, end=end)
            gates = gate_points(session, sorted({g for c in found for g in c.gate_ids}))
    except GridPulseError as exc:
        return html.Div(f"未查询：{exc.reason}", className="refused", id="pw-refused"), no_update, no_update, no_update, no_update
    rows = [{"name": c.person.name, "id_masked": c.person.id_masked, "encounters": c.encounters,
             "closest_s": round(c.closest_seconds), "gates": "、".join(gates.get(g, ("?",))[0] for g in c.gate_ids)} for c in found]
    table = _table(["姓名", "身份证号", "同行次数", "最近间隔（秒）", "闸机"],
                   [[r["name"], r["id_masked"], r["encounters"], r["closest_s"], r["gates"]] for r in rows], "pw-copresence-table")
    track = [[p.lon, p.lat, f"{p.ts.astimezone(tz):%H:%M} {p.place}{p.gate}"] for p in passages]
    summary = html.Div(f"{start.astimezone(tz):%Y-%m-%d} 通行 {len(passages)} 次；±{window} 分钟内同行 {len(rows)} 人", id="pw-summary")
    return ([summary, table], _map(passages, gates, []), track, len(track) < 2,
            {"kind": "co_presence", "person": person_id, "day": start.date().isoformat(), "rows": rows})


def _compound_points(session, ids: list[int]) -> dict[int, list[float]]:  # noqa: ANN001
    if not ids:
        return {}
    rows = session.execute(text("SELECT id, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat "
                                "FROM compound WHERE id = ANY(:ids)"), {"ids": ids}).all()
    return {r.id: [float(r.lon), float(r.lat)] for r in rows}


def _table(head: list[str], rows: list[list[Any]], table_id: str) -> html.Table:
    return html.Table(className="grid-table", id=table_id, children=[
        html.Tr([html.Th(h) for h in head]), *[html.Tr([html.Td(v) for v in row]) for row in rows]])


# The marker walks the day's path, one passage per tick, in the browser (no server round trip).
clientside_callback(
    """function (n, track) {
        var nu = window.dash_clientside.no_update;
        if (!track || track.length < 2) return nu;
        var p = track[(n || 0) % track.length];
        return {seq: 'walk-' + n, layers: {trajectory_head: [{position: [p[0], p[1]], tip: p[2]}]}};
    }""",
    # allow_duplicate: the one map's replay callback owns the plain "map-patch.data" key of the app's callback map
    Output("map-patch", "data", allow_duplicate=True), Input("pw-tick", "n_intervals"), State("pw-track", "data"),
    prevent_initial_call=True,
)


@dash.callback(Output("pw-download", "data"), Output("pw-results", "children", allow_duplicate=True),
               Input("pw-export", "n_clicks"), State("pw-export-rows", "data"), State("pw-reason", "value"),
               State("pw-results", "children"), prevent_initial_call=True)
def export(_n: int, result: dict | None, reason: str | None, shown: Any) -> tuple[Any, Any]:
    """The rows on screen as CSV: a watermark line first (who, when, why), one audit entry."""
    try:
        viewer = _viewer()
        if not result or result.get("rows") is None:
            raise GridPulseError("run co-presence or footholds first")
        if not reason or len(reason.strip()) < 4:
            raise GridPulseError("an export needs a stated reason (at least 4 characters)")
        person_id = int(result["person"])
        now = dt.datetime.now(dt.timezone.utc)
        with transaction() as session:
            queries.require_person(session, viewer, person_id)
            audit.record(session, viewer, "police.export", f"person:{person_id}", reason=reason.strip(),
                         kind=result["kind"], rows=len(result["rows"]))
    except GridPulseError as exc:
        return no_update, [html.Div(f"未导出：{exc.reason}", className="refused", id="pw-refused"), shown]
    out = io.StringIO()
    out.write("# " + watermark(viewer, now, reason.strip()) + "\n")
    rows = result["rows"]
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    name = f"{result['kind']}-{now:%Y%m%d%H%M%S}.csv"
    return {"content": out.getvalue(), "filename": name, "type": "text/csv"}, no_update


@dash.callback(Output("pw-inside-result", "children"), Input("pw-inside", "n_clicks"), State("pw-site", "value"),
               State("pw-site-reason", "value"), prevent_initial_call=True)
def who_is_inside(_n: int, site_id: int | None, reason: str | None) -> Any:
    tz = local_tz()
    try:
        viewer = _viewer()
        if site_id is None:
            raise GridPulseError("choose a key site")
        with transaction() as session:
            inside = inside_now(session, viewer, int(site_id), reason=reason or "")
    except GridPulseError as exc:
        return html.Div(f"未查询：{exc.reason}", className="refused", id="pw-inside-refused")
    return [html.Div(f"当前在场 {len(inside)} 人（按今日进出记录；查询已留痕）", id="pw-inside-count"),
            _table(["姓名", "身份证号", "进入时间", "闸机"],
                   [[i.person.name, i.person.id_masked, f"{i.since.astimezone(tz):%H:%M}", i.gate] for i in inside],
                   "pw-inside-table")]
