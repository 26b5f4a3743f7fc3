"""网格 drill-down: street → community → grid → building → floor → dwelling → household → person.

The place is in the URL (``/drill?place=building:12``), so a link can be shared; one server
callback reads it and asks the query layer (blockdata/queries.py) for the level's children, which
filters by jurisdiction, masks by role and audits reads of people. A place outside the viewer's
jurisdiction — also in a hand-crafted POST to /_dash-update-component — gets a refusal, and the
query layer has written it to the audit log. Clicking a grid, building or dwelling on the map
opens it.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, State, clientside_callback, dcc, html, no_update
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import settings
from core.errors import AccessDenied, GridPulseError
from core.viewer import Viewer, code_prefix
from core.vocab import ResidenceKind, Sex
from dashboard import places, prefetch
from dashboard.components.deckmap import deck_map
from dashboard.pages._common import city_map_spec, page_viewer
from dashboard.roles import ALL
from dashboard.places import Place
from dashboard.session import current_viewer
from blockdata import disclosure, queries
from blockdata.db import transaction
from layers.buildings import building_rows, buildings_layer
from layers.common import deck_spec, polygon_box, view_for
from layers.dwellings import dwelling_rows, dwellings_layer
from layers.grids import grid_outline_rows, grid_outlines_layer, grid_rows, grids_layer
from layers.regions import aggregated_map

dash.register_page(__name__, path="/drill", name="网格", title="GridPulse 网格", order=2, roles=ALL)

LOCAL_TZ = ZoneInfo(settings().timezone)
DIRECTION = {"in": "进", "out": "出"}
LEVELS = {"street": "街道", "community": "社区", "grid": "网格", "district": "区", "city": "市"}


def _source_label(source: str | None) -> str:
    """Where a residence comes from, in words: 工单 12 (a doorstep registration), or the source as recorded."""
    if not source:
        return ""
    kind, _, key = source.partition(":")
    return f"工单 {key}（上门登记）" if kind == "work_order" else source


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    return html.Div(children=[
        # refresh=False: a click changes the URL (shareable) without making Dash re-render the page.
        dcc.Location(id="drill-url", refresh=False),
        html.Div(id="breadcrumbs", className="breadcrumbs"),
        html.Div(className="drill", children=[
            deck_map(None, (["districts", "streets", "flows"] if _aggregated(viewer) else []) + ["grids", "buildings", "dwellings"],
                     height="calc(100vh - 170px)", legend=False,
                     prefetch="/drill/prefetch"),
            html.Div(id="drill-detail", className="detail"),
        ]),
    ])


@dash.callback(
    Output("breadcrumbs", "children"), Output("drill-detail", "children"), Output("map-spec", "data"),
    Input("drill-url", "search"),
)
def show(search: str | None) -> tuple[Any, Any, Any]:
    viewer = current_viewer()
    claimed, outputs = prefetch.claim(viewer, search or "")
    return outputs if claimed else _show(viewer, search)


def _show(viewer: Viewer, search: str | None) -> tuple[Any, Any, Any]:
    try:
        with transaction() as session:
            place = places.parse(search) or places.root(session, viewer)
            detail, spec, person_label = _level(session, viewer, place)
            crumbs = places.chain(session, viewer, place, person_label)
    except AccessDenied:
        return [], html.Div("无权查看：该位置不在您的管辖范围内（已记录）", className="refused", id="drill-refused"), None
    except GridPulseError as exc:
        return [], html.Div(f"无法显示：{exc.reason}", className="refused", id="drill-refused"), None
    links: list[Any] = []
    for i, (value, label) in enumerate(crumbs):
        if i:
            links.append(html.Span("›", className="sep"))
        links.append(html.Span(label, className="here") if i == len(crumbs) - 1 else dcc.Link(label, href=f"/drill?place={value}"))
    if spec is not None:
        spec["viewKey"] = place.value
    return links, detail, spec if spec is not None else no_update


prefetch.register(_show)  # the pointer went down on a grid or building: its level is computed before the click

# A click picks the place in the browser (no round trip); the server checks it when it shows the place.
clientside_callback(
    """function (click) {
        var nu = window.dash_clientside.no_update;
        if (!click || !(click.id || click.code)) return nu;
        if (click.kind === 'grid' && click.code) return '?place=grid:' + click.code;
        if (click.kind === 'building' || click.kind === 'dwelling') return '?place=' + click.kind + ':' + parseInt(click.id, 10);
        if ((click.kind === 'street' || click.kind === 'district') && /^[0-9]{12}$/.test(click.code || '')) return '?place=region:' + click.code;
        return nu;
    }""",
    Output("drill-url", "search"), Input("map-click", "data"), prevent_initial_call=True,
)


# --- levels -----------------------------------------------------------------------------------


def _links(items: list[tuple[str, str]], test_id: str) -> html.Div:
    return html.Div(className="children", id=test_id,
                    children=[dcc.Link(label, href=f"/drill?place={value}") for value, label in items] or "（无）")


def _aggregated(viewer: Viewer) -> bool:
    with transaction() as session:
        return aggregated_map(session, viewer)


def _grid_count(session: Session, viewer: Viewer) -> int:
    return int(session.execute(text("SELECT count(*) FROM grid WHERE code LIKE ANY(:p)"), {"p": viewer.like_patterns}).scalar_one())


def _region_map(session: Session, viewer: Viewer, prefix: str) -> dict[str, Any]:
    if aggregated_map(session, viewer):  # a city or district viewer: the aggregated map over this region, buildings by view
        return city_map_spec(session, viewer, focus=prefix)
    grids = grid_rows(session, viewer, within=prefix)  # the region's grids only, filtered in SQL
    if len(grids) == _grid_count(session, viewer):  # the whole jurisdiction: the cached, gzipped routes carry the big layers
        layers = [grids_layer("/layers/grids.json"), grid_outlines_layer("/layers/grid_outlines.json"),
                  buildings_layer("/layers/buildings.json")]
    else:
        buildings = building_rows(session, viewer, within=prefix)
        layers = [grids_layer(grids), grid_outlines_layer(grid_outline_rows(grids)), buildings_layer(buildings)]
    return deck_spec(layers, view_for(polygon_box(grids), pitch=40), basemap_url=settings().basemap_url)


def _building_map(session: Session, viewer: Viewer, building_id: int, floor: int | None = None) -> dict[str, Any]:
    rows = dwelling_rows(session, viewer, building_id, only_floor=floor)
    box = polygon_box(rows)
    return deck_spec([dwellings_layer(rows)], view_for(box, pitch=55, zoom=18.3), basemap_url=settings().basemap_url)


def _level(session: Session, viewer: Viewer, place: Place) -> tuple[Any, dict[str, Any] | None, str | None]:
    """(detail panel, map spec or None to keep the map, the person's masked label for the last crumb)."""
    if place.kind == "region":
        kids = queries.children(session, viewer, place.key)
        title = html.H3(f"下辖{LEVELS.get(kids[0].level, '') if kids else ''}（{len(kids)}）")
        items = [(f"{'grid' if k.level == 'grid' else 'region'}:{k.code}", k.name) for k in kids]
        return [title, _links(items, "drill-children")], _region_map(session, viewer, code_prefix(place.key)), None
    if place.kind == "grid":
        buildings = queries.grid_buildings(session, viewer, place.key)
        items = [(f"building:{b.id}", f"{b.compound or ''} {b.name}（{b.floors}层 {b.dwellings}户）") for b in buildings]
        grids = grid_rows(session, viewer, within=place.key)
        bl = building_rows(session, viewer, grid_code=place.key)
        spec = deck_spec([grids_layer(grids), grid_outlines_layer(grid_outline_rows(grids)), buildings_layer(bl)],
                         view_for(polygon_box(grids), pitch=50),
                         basemap_url=settings().basemap_url)
        return [html.H3(f"楼栋（{len(buildings)}）"), _links(items, "drill-children")], spec, None
    if place.kind in ("building", "floor"):
        building_id, _, floor_s = place.key.partition("-")
        dwellings = queries.building_dwellings(session, viewer, int(building_id))
        if not floor_s:
            by_floor: dict[int, int] = defaultdict(int)
            for d in dwellings:
                by_floor[d.floor] += 1
            items = [(f"floor:{building_id}-{f}", f"{f} 层（{n}户）") for f, n in sorted(by_floor.items(), reverse=True)]
            return [html.H3(f"楼层（{len(by_floor)}）"), _links(items, "drill-children")], _building_map(session, viewer, int(building_id)), None
        floor = int(floor_s)
        on_floor = [d for d in dwellings if d.floor == floor]
        items = [(f"dwelling:{d.id}", f"{d.unit}单元 {d.room}室 · {d.area_m2:.0f}m²") for d in on_floor]
        return ([html.H3(f"{floor} 层房屋（{len(on_floor)}）"), _links(items, "drill-children")],
                _building_map(session, viewer, int(building_id), floor), None)
    if place.kind == "dwelling":
        people = queries.dwelling_people(session, viewer, int(place.key))
        rows = [html.Tr([html.Th(h) for h in ("姓名", "身份证号", "性别", "年龄", "类别", "户", "与户主关系", "标签", "来源")])]
        for p in people:
            rows.append(html.Tr([
                html.Td(dcc.Link(p.name, href=f"/drill?place=person:{p.id}")), html.Td(p.id_masked),
                html.Td(Sex.label_of(p.sex, "")), html.Td(p.age),
                html.Td(ResidenceKind.label_of(p.residence_kind)), html.Td(p.household), html.Td(p.relation_to_head), html.Td("、".join(p.tags)),
                html.Td(_source_label(p.lives_here_source or None)),
            ]))
        building_id = session.execute(text("SELECT building_id, floor FROM dwelling WHERE id = :d"), {"d": int(place.key)}).one()
        return ([html.H3(f"住户（{len(people)}）"), html.Table(rows, className="grid-table", id="drill-people")],
                _building_map(session, viewer, building_id[0], building_id[1]), None)
    if place.kind == "person":
        person = queries.person(session, viewer, int(place.key))
        facts = html.Ul([
            html.Li(f"姓名：{person.name}"), html.Li(f"身份证号：{person.id_masked}"), html.Li(f"年龄：{person.age}"),
            html.Li(f"类别：{ResidenceKind.label_of(person.residence_kind)}"),
            html.Li(f"标签：{'、'.join(person.tags) or '无'}"),
        ], id="drill-person")
        return [html.H3("人员信息（已按权限脱敏，查询已留痕）"), facts, _movement_panel(viewer)], None, person.name
    return html.Div(), None, None


# --- movement: police work, with a stated reason (blockdata/disclosure.py) ---------------------------


def _movement_panel(viewer: Viewer) -> html.Div:
    if not disclosure.may_see_movement(viewer):
        return html.Div(html.P("通行记录仅限公安民警依法查询，并须填写事由。", id="drill-history-note"))
    return html.Div(className="timebar", children=[
        dcc.Input(id="history-reason", placeholder="查询事由（必填，如案件编号）", style={"width": "320px"}),
        html.Button("查看通行记录", id="history-show", n_clicks=0),
        html.Div(id="drill-history-box"),
    ])


@dash.callback(Output("drill-history-box", "children"), Input("history-show", "n_clicks"),
               State("history-reason", "value"), State("drill-url", "search"), prevent_initial_call=True)
def show_history(_n: int, reason: str | None, search: str | None) -> Any:
    """The person's passages at gates in the viewer's jurisdiction; the query layer checks role, reason and
    jurisdiction again and audits the read with its reason, or the refusal."""
    viewer = current_viewer()
    try:
        place = places.parse(search)
        if place is None or place.kind != "person":
            return html.Div("请先打开一名人员", className="refused")
        with transaction() as session:
            history = queries.person_access_history(session, viewer, int(place.key), reason=reason or "", limit=30)
    except GridPulseError as exc:
        return html.Div(f"未查询：{exc.reason}", className="refused", id="drill-history-refused")
    rows = [html.Tr([html.Th(h) for h in ("时间", "地点", "闸机", "方向", "方式", "结果")])] + [
        html.Tr([html.Td(f"{a.ts.astimezone(LOCAL_TZ):%m-%d %H:%M}"), html.Td(a.place), html.Td(a.gate),
                 html.Td(DIRECTION.get(a.direction, a.direction)), html.Td(a.method), html.Td(a.result)])
        for a in history
    ]
    return [html.H3(f"最近通行记录（{len(history)}，已留痕）"), html.Table(rows, className="grid-table", id="drill-history")]
