"""统计: the indicator set (docs/INDICATORS.md) for a place and a period, against the period before.

Everything is in the URL (``/stats?place=CODE&start=DAY&end=DAY&map=KEY``), so a figure shown at a
meeting can be bookmarked and a child place is one link away. The layout itself is the server-side
check: ``analytics.figures.resolve`` refuses (and audits) a place outside the viewer's jurisdiction,
whatever the URL says. Police see the population and flow groups only (the work of grid workers is
the street's business); the weekly report of the shown place is one click away.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, dcc, html
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics import figures as F
from analytics.audience import POLICE_GROUPS, groups_for  # noqa: F401 - the one rule, also the report's
from analytics.indicators import BY_KEY, GROUPS, INDICATORS
from analytics.stats_refresh import local_day, refresh_if_stale
from blockdata.db import transaction
from core.config import local_tz
from core.errors import GridPulseError, InvalidInput
from core.viewer import Viewer
from dashboard import stats_charts as C
from dashboard.pages._common import page_viewer
from dashboard.roles import WALL
from dashboard.session import current_viewer

dash.register_page(__name__, path="/stats", name="统计", title="GridPulse 统计", order=4, roles=WALL)

STALE = dt.timedelta(minutes=5)
log = logging.getLogger(__name__)
_refreshing = threading.Lock()
GRAPH_CONFIG = {"displaylogo": False, "locale": "zh-CN", "locales": {"zh-CN": C.ZH_CN}, "responsive": True}
MAP_KEYS = ["pop_actual", "pop_floating", "density", "pop_realtime", "entries", "orders_opened", "on_time_rate",
            "cov_credential", "alerts_open"]
PERIODS = {"day": "日", "week": "周", "month": "月"}


def keep_fresh() -> None:
    """Refresh the aggregates when today's snapshot is older than ``STALE`` — behind the page, in a thread
    (a street's refresh takes seconds; the page shows the last one and says when it was), except on a
    base that was never refreshed, where there would be nothing to show."""
    with transaction() as session:
        ever = session.execute(text("SELECT EXISTS (SELECT 1 FROM stat_refresh)")).scalar()
    if not ever:
        with transaction() as session:
            refresh_if_stale(session, STALE)
        return
    if not _refreshing.acquire(blocking=False):
        return  # one is running in this process

    def run() -> None:
        try:
            with transaction() as session:
                refresh_if_stale(session, STALE)
        except Exception:  # noqa: BLE001 - a failed refresh must not take the page down; the next visit retries
            log.exception("stats refresh failed")
        finally:
            _refreshing.release()

    threading.Thread(target=run, name="stats-refresh", daemon=True).start()


def refreshed_at(session: Session) -> str:
    at = session.execute(text("SELECT max(refreshed_at) FROM stat_refresh")).scalar()
    return f"数据更新于 {at.astimezone(local_tz()):%Y-%m-%d %H:%M}" if at else "尚无统计数据"


def default_place(session: Session, viewer: Viewer) -> str:
    if viewer.jurisdiction:
        return viewer.jurisdiction[0]
    return session.execute(text("SELECT code FROM region WHERE level = 'street' ORDER BY code LIMIT 1")).scalar() or ""


def place_options(session: Session, viewer: Viewer) -> list[dict[str, str]]:
    """Regions, grids and compounds the viewer covers, for the place picker."""
    p = {"p": viewer.like_patterns}
    regions = session.execute(text("SELECT code, name FROM region WHERE level IN ('street', 'community') "
                                   "AND code LIKE ANY(:p) ORDER BY code"), p).all()
    grids = session.execute(text("SELECT code, name FROM grid WHERE code LIKE ANY(:p) ORDER BY code"), p).all()
    compounds = session.execute(text(
        "SELECT DISTINCT c.code, c.name FROM compound c JOIN building b ON b.compound_id = c.id JOIN grid g ON g.id = b.grid_id "
        "WHERE g.code LIKE ANY(:p) ORDER BY c.code"), p).all()
    return ([{"label": f"{r.name}（{r.code}）", "value": r.code} for r in regions]
            + [{"label": f"网格 {r.name}（{r.code}）", "value": r.code} for r in grids]
            + [{"label": f"小区 {r.name}", "value": r.code} for r in compounds])


def period_from_query(query: dict[str, str], today: dt.date) -> F.Period:
    """``week=2026-W49``, or ``start``/``end`` days; default: the current week so far."""
    if query.get("week"):
        return F.iso_week(query["week"])
    if query.get("start") and query.get("end"):
        try:
            return F.period(dt.date.fromisoformat(query["start"]), dt.date.fromisoformat(query["end"]))
        except ValueError:
            raise InvalidInput("start and end are days like 2026-12-01", record="period") from None
    monday = today - dt.timedelta(days=today.weekday())
    return F.Period(monday, monday + dt.timedelta(days=6))


def _href(place: str, p: F.Period, map_key: str) -> str:
    return "/stats?" + urlencode({"place": place, "start": p.start.isoformat(), "end": p.end.isoformat(), "map": map_key})


def _shapes(session: Session, kids: list[F.Place], values: dict[str, float | None], key: str) -> list[dict[str, Any]]:
    tables = {"region": "region", "grid": "grid", "compound": "compound"}
    out = []
    for kid in kids:
        row = session.execute(text(f"SELECT ST_AsGeoJSON(geom) AS g, ST_X(ST_PointOnSurface(geom)) AS x, "
                                   f"ST_Y(ST_PointOnSurface(geom)) AS y FROM {tables[kid.kind]} WHERE code = :c"),
                              {"c": kid.code}).first()
        if row is None or row.g is None:
            continue
        geo = json.loads(row.g)
        polygons = geo["coordinates"] if geo["type"] == "MultiPolygon" else [geo["coordinates"]]
        out.append({"name": kid.name, "code": kid.code, "value": values.get(kid.code), "label": F.fmt(key, values.get(kid.code)),
                    "rings": [poly[0] for poly in polygons], "cx": row.x, "cy": row.y})
    return out


def _table(group: str, now: F.Figures, before: F.Figures) -> html.Div:
    rows = [html.Tr([html.Th(h) for h in ("指标", "本期", "上期", "变化", "单位")])]
    for ind in INDICATORS:
        if ind.group != group:
            continue
        a, b = now.values.get(ind.key), before.values.get(ind.key)
        rows.append(html.Tr([html.Td(ind.label, title=ind.definition), html.Td(F.fmt(ind.key, a), id=f"stat-{ind.key}"),
                             html.Td(F.fmt(ind.key, b), id=f"stat-prev-{ind.key}"),
                             html.Td(F.change(a, b), className="delta"), html.Td(ind.unit)]))
    return html.Div(className="stat-group", children=[html.H3(GROUPS[group]), html.Table(rows, className="grid-table")])


def _children_table(kids: list[F.Place], figs: dict[str, F.Figures], p: F.Period, map_key: str) -> html.Table:
    keys = ["pop_actual", "pop_floating", "entries", "orders_opened", "on_time_rate"]
    head = html.Tr([html.Th("下级区域")] + [html.Th(BY_KEY[k].label) for k in keys])
    body = [html.Tr([html.Td(dcc.Link(k.name, href=_href(k.code, p, map_key), className="child-link"))]
                    + [html.Td(F.fmt(key, figs[k.code].values.get(key))) for key in keys]) for k in kids]
    return html.Table([head, *body], className="grid-table", id="stats-children")


def layout(place: str | None = None, map: str | None = None, **query: str) -> html.Div:  # noqa: A002 - the URL's name
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    map_key = map if map in BY_KEY else "pop_actual"
    try:
        keep_fresh()
        with transaction() as session:
            updated = refreshed_at(session)
            today = local_day(dt.datetime.now(dt.timezone.utc))
            code = place or default_place(session, viewer)
            p = period_from_query(query, today)
            where = F.resolve(session, viewer, code)
            now, before = F.compute(session, where, p), F.compute(session, where, p.previous())
            kids = F.children(session, viewer, where)
            kid_figs = {k.code: F.compute(session, k, p) for k in kids}
            shapes = _shapes(session, kids, {c: f.values.get(map_key) for c, f in kid_figs.items()}, map_key)
            options = place_options(session, viewer)
    except GridPulseError as exc:
        return html.Div(f"无法显示：{exc.reason}", className="refused", id="stats-refused")
    groups = groups_for(viewer)
    graphs = [C.population_kinds(now), C.daily_flows(now), C.hourly_flows(now)]
    if "work" in groups:
        graphs += [C.daily_work(now), C.rule_precision(now)]
    return html.Div(className="stats", children=[
        dcc.Location(id="stats-url", refresh="callback-nav"),
        html.Div(className="timebar stats-controls", children=[
            dcc.Dropdown(id="stats-place", options=options, value=where.code, clearable=False, style={"minWidth": "300px", "color": "#000"}),
            dcc.Dropdown(id="stats-kind", clearable=False, style={"width": "90px", "color": "#000"},
                         value="week" if p.days == 7 else ("day" if p.days == 1 else "month"),
                         options=[{"label": v, "value": k} for k, v in PERIODS.items()]),
            dcc.DatePickerSingle(id="stats-day", date=p.end.isoformat(), display_format="YYYY-MM-DD"),
            dcc.Dropdown(id="stats-map", value=map_key, clearable=False, style={"width": "200px", "color": "#000"},
                         options=[{"label": f"地图：{BY_KEY[k].label}", "value": k} for k in MAP_KEYS]),
            html.Button("查询", id="stats-go", n_clicks=0),
            html.Button("一键生成周报", id="stats-report", n_clicks=0, title="本期所在周的周报：Excel 与 PDF，留痕并加水印"),
            dcc.Download(id="stats-xlsx"), dcc.Download(id="stats-pdf"), html.Span(id="stats-report-msg"),
        ]),
        html.H2(f"{where.name} · {p.label()}", id="stats-title"),
        html.Div(f"对比上期：{p.previous().label()} · {updated}", className="stats-sub", id="stats-updated"),
        html.Div(className="stats-top", children=[
            dcc.Graph(id="stats-map-graph", figure=C.place_map(shapes, map_key), config=GRAPH_CONFIG) if shapes else html.Div(),
            _children_table(kids, kid_figs, p, map_key) if kids else html.Div(),
        ]),
        html.Div(className="stats-tables", children=[_table(g, now, before) for g in groups]),
        html.Div(className="stats-graphs", children=[dcc.Graph(figure=g, config=GRAPH_CONFIG) for g in graphs]),
        dcc.Store(id="stats-state", data={"place": where.code, "start": p.start.isoformat(), "end": p.end.isoformat()}),
    ])


def _period_for(kind: str, day: dt.date) -> F.Period:
    if kind == "day":
        return F.Period(day, day)
    if kind == "month":
        first = day.replace(day=1)
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        return F.Period(first, nxt - dt.timedelta(days=1))
    monday = day - dt.timedelta(days=day.weekday())
    return F.Period(monday, monday + dt.timedelta(days=6))


@dash.callback(Output("stats-url", "href"), Input("stats-go", "n_clicks"), State("stats-place", "value"),
               State("stats-kind", "value"), State("stats-day", "date"), State("stats-map", "value"), prevent_initial_call=True)
def go(_n: int, place: str, kind: str, day: str, map_key: str) -> str:
    """Only builds the URL: the page's layout checks the place again for the session's viewer."""
    return _href(place, _period_for(kind, dt.date.fromisoformat(day[:10])), map_key)


@dash.callback(Output("stats-xlsx", "data"), Output("stats-pdf", "data"), Output("stats-report-msg", "children"),
               Input("stats-report", "n_clicks"), State("stats-state", "data"), prevent_initial_call=True)
def weekly_report(_n: int, state: dict[str, str]) -> tuple[Any, Any, str]:
    from dashboard.report import weekly

    viewer = current_viewer()
    end = dt.date.fromisoformat(state["end"])
    year, week, _ = end.isocalendar()
    try:
        report = weekly(viewer, state["place"], f"{year}-W{week:02d}")
    except GridPulseError as exc:
        return None, None, f"未生成：{exc.reason}"
    return (dcc.send_bytes(report.xlsx, report.basename + ".xlsx"), dcc.send_bytes(report.pdf, report.basename + ".pdf"),
            f"已生成 {report.basename}（已留痕，含水印）")
