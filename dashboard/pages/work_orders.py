"""工单: a grid worker's orders on their phone (390 px wide first); they record what they found at the door.

Each card says where (the standard address), who (masked as the role allows; the read is audited
with the order as its reason), why (the alert's evidence in words), since when and by when, and
opens the place in 网格, whose map shows the building with its dwellings floor by floor. The form
is the one the order's rule needs (analytics/doorstep.py); what it changes is derived on the server
from the order's alert, never taken from the browser. What a worker types is kept in the phone's
local storage (Dash persistence) until it is submitted, so a reload on a weak connection loses
nothing. The list sorts by due time, or by distance once the phone has given its position.

事件上报 takes its place from a tap on a small map of the worker's grids (dashboard/components/point_picker.py),
the phone's position, or a typed place; a point is checked against the worker's grids when it is set (to
say so at once) and when the incident is submitted (what counts: analytics/incidents.py refuses and audits).
"""
from __future__ import annotations

from typing import Any

import dash
from dash import MATCH, Input, Output, State, clientside_callback, dcc, html

import base64
import math

from sqlalchemy import text

from analytics import doorstep, incidents
from analytics.order_cards import OrderCard, card, distance_m, sort_cards
from analytics.work_orders import orders_for
from core.config import local_tz
from core.errors import GridPulseError, InvalidInput
from core.vocab import ResidenceKind
from dashboard.components.point_picker import grid_at, picker_spec, point_picker
from dashboard.pages._common import page_viewer
from dashboard.roles import ALL
from dashboard.session import current_viewer
from blockdata.db import transaction
from intake.search import search

dash.register_page(__name__, path="/orders", name="工单", title="GridPulse 工单", roles=ALL)

ACTION_LABELS = {
    "departed": "已搬离（人走注销）", "still_here": "仍在此居住", "registered_elsewhere": "人户分离：户在人不在",
    "living_here_registered_elsewhere": "人户分离：人在户不在", "register": "登记此人（人来登记）", "dismissed": "不属实",
    "flag_group_rental": "确认群租", "clear_group_rental": "不是群租（解除）", "welfare_visit": "已上门探访",
    "confirmed": "属实",
}
WELFARE_LABELS = {"well": "状况良好", "needs_help": "需要帮扶", "hospital": "已住院/外出", "no_answer": "无人应答"}
KIND_LABELS = {k.value: k.label for k in (ResidenceKind.floating, ResidenceKind.resident, ResidenceKind.overseas)}
# Fields each form shows; every card carries every field (hidden where unused) so one callback serves all.
FORM_FIELDS = {"register": {"name", "id_number", "residence_kind", "address"},
               "departure": {"other_address"}, "welfare": {"state"}}
_PERSIST = {"persistence": True, "persistence_type": "local"}


def layout(order: str | None = None, **_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    with transaction() as session:
        cards = sort_cards([card(session, viewer, o) for o in orders_for(session, viewer)], "due")
    return html.Div(className="orders", children=[
        html.H2(f"我的工单（{len(cards)}）", id="orders-title"),
        _incident_panel(),
        html.Div(className="sortbar", children=[
            html.Span("排序："),
            dcc.RadioItems(id="orders-sort", value="due", inline=True,
                           options=[{"label": "截止时间", "value": "due"}, {"label": "离我最近", "value": "distance"}]),
            html.Span(id="orders-geo-note"),
        ]),
        dcc.Store(id="orders-geo"),
        html.Div(id="orders-list", children=[_card(c, None) for c in cards]),
        dcc.Store(id="orders-focus", data=order),
    ])


def _field(order_id: int, kind: str, label: str, control: Any, shown: bool) -> html.Div:
    return html.Div(className=f"form-row field-{kind}", style=None if shown else {"display": "none"},
                    children=[html.Label(label), control])


def _form(c: OrderCard) -> list[Any]:
    form = doorstep.form_for(c.kind)
    fields = FORM_FIELDS.get(form, set())
    oid = c.order_id
    actions = doorstep.ACTIONS[form]
    return [
        dcc.RadioItems(id={"type": "action", "order": oid}, value=actions[0], className="actions-radio",
                       options=[{"label": ACTION_LABELS.get(a, a), "value": a} for a in actions], **_PERSIST),
        _field(oid, "name", "姓名", dcc.Input(id={"type": "name", "order": oid}, type="text", maxLength=32, **_PERSIST),
               "name" in fields),
        _field(oid, "id_number", "身份证号（核验校验位）", dcc.Input(id={"type": "id_number", "order": oid}, type="text",
                                                           maxLength=18, autoComplete="off"), "id_number" in fields),
        _field(oid, "residence_kind", "居住类型", dcc.RadioItems(
            id={"type": "residence_kind", "order": oid}, value="floating", inline=True,
            options=[{"label": v, "value": k} for k, v in KIND_LABELS.items()], **_PERSIST), "residence_kind" in fields),
        _field(oid, "address", "住在哪一户（输入地址，如 颐和新村2-2-301）", dcc.Input(
            id={"type": "address", "order": oid}, type="text", maxLength=100, **_PERSIST), "address" in fields),
        _field(oid, "other_address", "另一处地址（人户分离时填写：现住址或户籍地址）", dcc.Input(
            id={"type": "other_address", "order": oid}, type="text", maxLength=200, **_PERSIST), "other_address" in fields),
        _field(oid, "state", "探访结果", dcc.RadioItems(
            id={"type": "state", "order": oid}, value="well", inline=True,
            options=[{"label": v, "value": k} for k, v in WELFARE_LABELS.items()], **_PERSIST), "state" in fields),
        dcc.Textarea(id={"type": "notes", "order": oid}, placeholder="上门核查情况（必填）", **_PERSIST),
        dcc.Upload(id={"type": "photo", "order": oid}, accept="image/jpeg,image/png", className="photo-upload",
                   children=html.Span("📷 添加照片（随工单保存，不做人脸识别）")),
        html.Div(id={"type": "photo-result", "order": oid}, className="photo-result"),
        html.Button("提交核查结果", id={"type": "submit", "order": oid}, n_clicks=0, className="submit"),
        html.Div(id={"type": "result", "order": oid}, className="result"),
    ]


def _card(c: OrderCard, position: tuple[float, float] | None) -> html.Div:
    tz = local_tz()
    times = [f"发现 {c.since.astimezone(tz):%m-%d %H:%M}", f"截止 {c.due.astimezone(tz):%m-%d %H:%M}", f"工单 {c.order_id}"]
    if c.confidence is not None:
        times.append(f"置信度 {c.confidence:.2f}")
    if position is not None and (d := distance_m(c, *position)) != float("inf"):
        times.append(f"距离 {d / 1000:.1f} km" if d >= 1000 else f"距离 {d:.0f} m")
    return html.Div(className="order" + (" overdue" if c.overdue else ""), id=f"order-{c.order_id}", children=[
        html.H3(c.title + ("（已超期）" if c.overdue else "")),
        html.Div(c.where, className="where"),
        *[html.Div(line, className="who") for line in c.who],
        *[html.Div(line, className="why") for line in c.why],
        html.Div(" · ".join(times), className="times meta"),
        html.Div(className="actions", children=[dcc.Link("在地图上查看（楼栋·分层房屋）", href=c.place_href)] if c.place_href else []),
        *_form(c),
    ])


@dash.callback(Output("orders-list", "children"), Input("orders-sort", "value"), Input("orders-geo", "data"),
               prevent_initial_call=True)
def resort(by: str, geo: dict | None) -> list[html.Div]:
    viewer = current_viewer()
    position = (float(geo["lon"]), float(geo["lat"])) if geo and "lon" in geo else None
    with transaction() as session:
        cards = sort_cards([card(session, viewer, o) for o in orders_for(session, viewer)], by, position)
    return [_card(c, position) for c in cards]


# "离我最近": ask the phone for its position (the browser asks the person); the list re-sorts when it comes.
clientside_callback(
    """function (by) {
        var nu = window.dash_clientside.no_update;
        if (by !== 'distance') return nu;
        if (!navigator.geolocation) return '无法获取位置，仍按截止时间排序';
        navigator.geolocation.getCurrentPosition(function (pos) {
            window.dash_clientside.set_props('orders-geo', {data: {lon: pos.coords.longitude, lat: pos.coords.latitude}});
        }, function () {
            window.dash_clientside.set_props('orders-geo-note', {children: '未获得位置，仍按截止时间排序'});
        }, {timeout: 10000, maximumAge: 60000});
        return '正在获取位置…';
    }""",
    Output("orders-geo-note", "children"), Input("orders-sort", "value"), prevent_initial_call=True,
)


# An order opened from 一搜 (/orders?order=N) is scrolled into view.
clientside_callback(
    """function (order) {
        if (order) { var el = document.getElementById('order-' + order); if (el) el.scrollIntoView(); }
        return window.dash_clientside.no_update;
    }""",
    Output("orders-title", "title"), Input("orders-focus", "data"),
)


def _dwelling_from_address(session, viewer, address: str | None) -> int | None:  # noqa: ANN001
    """The dwelling a typed address means, within the viewer's jurisdiction (the search's best dwelling)."""
    if not address or not address.strip():
        return None
    hit = next((h for h in search(session, viewer, address).hits if h.kind == "dwelling"), None)
    if hit is None:
        raise InvalidInput(f"no dwelling in your grids matches {address.strip()!r}: check the building, unit and room")
    return int(hit.href.rsplit(":", 1)[1])


@dash.callback(
    Output({"type": "result", "order": MATCH}, "children"),
    Output({"type": "notes", "order": MATCH}, "value"),
    Input({"type": "submit", "order": MATCH}, "n_clicks"),
    State({"type": "submit", "order": MATCH}, "id"),
    State({"type": "action", "order": MATCH}, "value"),
    State({"type": "notes", "order": MATCH}, "value"),
    State({"type": "name", "order": MATCH}, "value"),
    State({"type": "id_number", "order": MATCH}, "value"),
    State({"type": "residence_kind", "order": MATCH}, "value"),
    State({"type": "address", "order": MATCH}, "value"),
    State({"type": "other_address", "order": MATCH}, "value"),
    State({"type": "state", "order": MATCH}, "value"),
    prevent_initial_call=True,
)
def submit_finding(_clicks: int, ident: dict, action: str, notes: str | None, name: str | None, id_number: str | None,
                   residence_kind: str | None, address: str | None, other_address: str | None,
                   state: str | None) -> tuple[Any, Any]:
    viewer = current_viewer()
    order_id = int(ident["order"])
    try:
        with transaction() as session:
            fields = {"name": name, "id_number": id_number, "residence_kind": residence_kind,
                      "other_address": other_address, "state": state}
            if action == "register":
                fields["dwelling_id"] = _dwelling_from_address(session, viewer, address)
            order = doorstep.submit(session, viewer, order_id, action, notes or "", fields)
            applied = order.correction or {}
    except GridPulseError as exc:
        return html.Span(f"未提交：{exc.reason}", className="refused"), dash.no_update
    done = "已提交，谢谢！"
    if applied.get("kind") == "register_resident":
        done += (f" 已登记为{KIND_LABELS.get(str(residence_kind), '流动人口')}（身份证 {applied.get('id_masked')}），"
                 f"来源：工单 {order_id}")
    return done, ""  # the draft is cleared once it is stored


# --- 事件上报: an incident reported on patrol becomes a point on the map and an order for the supervisor ------


def _incident_panel() -> html.Details:
    return html.Details(id="incident-panel", className="order incident", children=[
        html.Summary("事件上报"),
        dcc.RadioItems(id="incident-category", value="other", className="actions-radio",
                       options=[{"label": v, "value": k} for k, v in incidents.CATEGORIES.items()], **_PERSIST),
        dcc.Textarea(id="incident-description", placeholder="发生了什么（至少4个字）", maxLength=1000, **_PERSIST),
        html.Div(className="form-row", children=[
            html.Button("在地图上点选", id="incident-map-open", n_clicks=0, className="locate"),
            html.Button("用手机定位", id="incident-locate", n_clicks=0, className="locate"),
        ]),
        html.Div(id="incident-map-wrap", className="incident-map", style={"display": "none"}, children=[
            html.Div("点按地图放置上报位置；再点一次可移动", className="meta"),
            point_picker("incident-geo"),
        ]),
        html.Div(id="incident-where"),  # below the map: what it says never moves the map under the finger
        html.Div(className="form-row", children=[html.Label("或输入地点（地址、楼栋；未点选、未定位时使用）"),
                                                 dcc.Input(id="incident-address", type="text", maxLength=100, **_PERSIST)]),
        dcc.Store(id="incident-geo"),
        dcc.Upload(id="incident-photo", accept="image/jpeg,image/png", className="photo-upload",
                   children=html.Span("📷 添加照片")),
        html.Button("上报", id="incident-submit", n_clicks=0, className="submit"),
        html.Div(id="incident-result", className="result"),
    ])


clientside_callback(
    """function (n) {
        if (!n) return window.dash_clientside.no_update;
        if (!navigator.geolocation) return '此设备无法定位，请输入地点';
        navigator.geolocation.getCurrentPosition(function (pos) {
            window.dash_clientside.set_props('incident-geo', {data: {lon: pos.coords.longitude, lat: pos.coords.latitude, source: 'phone'}});
            window.dash_clientside.set_props('incident-where', {children: '已定位 ' + pos.coords.longitude.toFixed(5) + ', ' + pos.coords.latitude.toFixed(5)});
        }, function () {
            window.dash_clientside.set_props('incident-where', {children: '未获得位置，请输入地点'});
        }, {timeout: 10000, maximumAge: 60000});
        return '正在定位…';
    }""",
    Output("incident-where", "children"), Input("incident-locate", "n_clicks"), prevent_initial_call=True,
)


@dash.callback(Output("map-spec", "data", allow_duplicate=True), Output("incident-map-wrap", "style"),
               Input("incident-map-open", "n_clicks"), State("incident-geo", "data"), prevent_initial_call=True)
def open_picker(_n: int, geo: dict | None) -> tuple[Any, Any]:
    """The picker's map, built when it is first asked for (nothing to load for a worker who never opens it)."""
    viewer = current_viewer()
    point = _geo_point(geo)
    with transaction() as session:
        spec = picker_spec(session, viewer, point)
    return spec, {"display": "block"}


# The marker follows the point, wherever it came from (a tap, the phone), and goes when the point is refused.
clientside_callback(
    """function (geo) {
        var ok = geo && isFinite(geo.lon) && isFinite(geo.lat);
        return {seq: 'pick-' + (ok ? geo.lon + ',' + geo.lat : 'none') + '-' + Date.now(),
                layers: {incident_pick: ok ? [{kind: 'incident_pick', position: [geo.lon, geo.lat], tip: '上报位置'}] : []}};
    }""",
    Output("map-patch", "data", allow_duplicate=True), Input("incident-geo", "data"), prevent_initial_call=True,
)


def _geo_point(geo: Any) -> tuple[float, float] | None:
    """The store's point, when it holds two finite numbers (whatever else a crafted request put there)."""
    if not isinstance(geo, dict) or "lon" not in geo or "lat" not in geo:
        return None
    try:
        lon, lat = float(geo["lon"]), float(geo["lat"])
    except (TypeError, ValueError):
        return None
    return (lon, lat) if math.isfinite(lon) and math.isfinite(lat) else None


@dash.callback(Output("incident-where", "children", allow_duplicate=True), Output("incident-geo", "data"),
               Input("incident-geo", "data"), prevent_initial_call=True)
def check_point(geo: dict | None) -> tuple[Any, Any]:
    """Say at once where the point is, or why it cannot be used (then it is dropped, with its marker)."""
    viewer = current_viewer()
    point = _geo_point(geo)
    if point is None:
        return dash.no_update, dash.no_update
    label = "已选点" if geo.get("source") == "map" else "已定位"
    with transaction() as session:
        words, why = grid_at(session, viewer, *point)
    if why is not None:
        return html.Span(f"{label}未采用：{why}", className="refused", id="incident-point-refused"), None
    return html.Span(f"{label}：{words}（{point[0]:.5f}, {point[1]:.5f}）", id="incident-point-ok"), dash.no_update


def _point_of_address(session, viewer, address: str) -> tuple[float, float]:  # noqa: ANN001
    """A typed place's point: the building of the best dwelling or building the search finds in the viewer's grids."""
    hit = next((h for h in search(session, viewer, address).hits if h.kind in ("dwelling", "building")), None)
    if hit is None:
        raise InvalidInput(f"no place in your grids matches {address.strip()!r}: locate with the phone or type a building")
    kind, _, key = hit.href.partition("place=")[2].partition(":")
    sql = ("SELECT ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom)) FROM building b "
           + ("JOIN dwelling d ON d.building_id = b.id WHERE d.id = :k" if kind == "dwelling" else "WHERE b.id = :k"))
    lon, lat = session.execute(text(sql), {"k": int(key)}).one()
    return float(lon), float(lat)


def _upload_bytes(contents: str | None) -> bytes | None:
    """dcc.Upload's data URL → the file's bytes (its declared type is ignored: the bytes are checked)."""
    if not contents:
        return None
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (IndexError, ValueError):
        raise InvalidInput("the photo could not be read: choose the file again") from None


@dash.callback(Output("incident-result", "children"), Output("incident-description", "value"),
               Input("incident-submit", "n_clicks"), State("incident-category", "value"),
               State("incident-description", "value"), State("incident-geo", "data"), State("incident-address", "value"),
               State("incident-photo", "contents"), prevent_initial_call=True)
def report_incident(_n: int, category: str, description: str | None, geo: dict | None, address: str | None,
                    photo: str | None) -> tuple[Any, Any]:
    viewer = current_viewer()
    try:
        with transaction() as session:
            point = _geo_point(geo)
            if geo and point is None:
                raise InvalidInput("the point is not a longitude/latitude: tap the map again or locate with the phone")
            if point is not None:
                source = geo.get("source", "phone")
                if source not in ("phone", "map"):
                    raise InvalidInput("a point comes from the phone or a tap on the map")
                lon, lat = point
            elif address and address.strip():
                (lon, lat), source = _point_of_address(session, viewer, address), "address"
            else:
                raise InvalidInput("give the location: tap it on the map (在地图上点选), press 用手机定位 or type a place")
            incident = incidents.report(session, viewer, category=category, description=description or "",
                                        lon=lon, lat=lat, source=source)
            data = _upload_bytes(photo)
            if data is not None:
                incidents.attach_photo(session, viewer, incident.work_order_id, data)
            order_id = incident.work_order_id
    except GridPulseError as exc:
        return html.Span(f"未上报：{exc.reason}", className="refused", id="incident-refused"), dash.no_update
    return html.Span(f"已上报（工单 {order_id}，已转网格长处置）", id="incident-done"), ""


@dash.callback(Output({"type": "photo-result", "order": MATCH}, "children"),
               Input({"type": "photo", "order": MATCH}, "contents"), State({"type": "photo", "order": MATCH}, "id"),
               prevent_initial_call=True)
def attach_photo(contents: str | None, ident: dict) -> Any:
    viewer = current_viewer()
    try:
        data = _upload_bytes(contents)
        if data is None:
            return dash.no_update
        with transaction() as session:
            incidents.attach_photo(session, viewer, int(ident["order"]), data)
            n = incidents.photo_count(session, int(ident["order"]))
    except GridPulseError as exc:
        return html.Span(f"未保存照片：{exc.reason}", className="refused")
    return f"照片已保存（共 {n} 张）"
