"""区 and 街道 layers: a city or district viewer's map, aggregated per district and per street.

A city holds thousands of buildings and grids; a map that loads them all costs what the city holds, not
what a viewer at city zoom can see. A city or district viewer (``Viewer.scope``) therefore starts with the
districts and streets of their jurisdiction as choropleths — real-time population or open alerts, summed
from the grids — and the buildings only once zoomed in (layers/viewport.py). Flows between streets are
people registered in one street seen entering a gate in another (:func:`flow_rows`).

A region's shape is its own polygon; a district or street imported without one (as a point, or a district
of the seeded city) is the union of its streets' polygons, or else of its grids'. Shapes are simplified to
about 2 m: at the zoom these layers are seen, a finer outline is pixels nobody sees, bytes everyone loads.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import POLICE_RULES, ROLES_SEEING_POLICE_RULES, Role, Viewer
from layers.common import literal, outline_layer, outline_rows, ramp


def streets_in_base(session: Session) -> int:
    """How many streets the base's grids lie in (an index-only count over the grids: a millisecond)."""
    return int(session.execute(text("SELECT count(DISTINCT left(code, 9)) FROM grid")).scalar_one())


def aggregated_map(session: Session, viewer: Viewer) -> bool:
    """Whether the viewer's map starts aggregated (districts and streets, buildings once zoomed in): a city or
    district account's does; an administrator's only where the base holds more than one street — on a
    one-street installation the administrator works on the street's map like everybody else."""
    if not viewer.sees_aggregated_map:
        return False
    return viewer.role is not Role.admin or streets_in_base(session) > 1

LEVELS = ("district", "street")
PREFIX_LENGTH = {"district": 6, "street": 9}
LAYER_ID = {"district": "districts", "street": "streets"}
LEVEL_LABEL = {"district": "区", "street": "街道"}
SIMPLIFY_DEG = 0.00002  # about 2 m
OUTLINE = {"district": [255, 255, 255, 255], "street": [150, 200, 255, 220]}
OUTLINE_PX = {"district": 3.0, "street": 1.5}
LABEL = {"district": [255, 255, 255, 255], "street": [220, 235, 255, 255]}
LABEL_PX = {"district": 20, "street": 15}
# Zoom ranges in which each aggregated layer is drawn (assets/deckmap.js hides it outside): the districts
# under STREET_ZOOM, the streets from there until the buildings take over at BUILDING_ZOOM (their outline
# and label stay, their fill fades out).
STREET_ZOOM = 12.5
BUILDING_ZOOM = 15.0
FLOW_WINDOW_HOURS = 1
MIN_FLOW_PEOPLE = 3  # fewer people on a line between two streets would tell where those few went

_SHAPES = text(
    """
    WITH r AS (
      SELECT r.code, r.name, left(r.code, :n) AS prefix, r.geom
      FROM region r WHERE r.level = CAST(:level AS region_level) AND r.code LIKE ANY(:patterns)
    ), shaped AS (
      SELECT r.code, r.name, r.prefix,
             coalesce(r.geom,
                      (SELECT ST_Multi(ST_Union(s.geom)) FROM region s
                       WHERE s.level = 'street' AND s.geom IS NOT NULL AND left(s.code, :n) = r.prefix),
                      (SELECT ST_Multi(ST_Union(g.geom)) FROM grid g WHERE left(g.code, :n) = r.prefix)) AS geom
      FROM r
    )
    SELECT code, name, prefix,
           ST_AsGeoJSON(ST_Multi(ST_SimplifyPreserveTopology(geom, :tol)), 6)::json -> 'coordinates' AS polygons,
           ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
    FROM shaped WHERE geom IS NOT NULL ORDER BY code
    """
)
_GRIDS = text("SELECT id, left(code, :n) AS prefix FROM grid WHERE code LIKE ANY(:patterns)")
_BUILDINGS = text(
    """SELECT left(g.code, :n) AS prefix, count(*) AS n FROM building b JOIN grid g ON g.id = b.grid_id
       WHERE g.code LIKE ANY(:patterns) GROUP BY 1"""
)
_ALERTS = text(
    """SELECT left(g.code, :n) AS prefix, count(*) AS n FROM alert a JOIN grid g ON g.id = a.grid_id
       WHERE a.status IN ('open', 'dispatched') AND g.code LIKE ANY(:patterns)
         AND (:police_too OR a.rule <> ALL(:police))
       GROUP BY 1"""
)


def _params(viewer: Viewer, level: str) -> dict[str, Any]:
    if level not in LEVELS:
        raise ValueError(f"level is one of {LEVELS}: {level!r}")
    return {"patterns": viewer.like_patterns, "n": PREFIX_LENGTH[level], "level": level}


def region_shapes(session: Session, viewer: Viewer, level: str) -> list[dict[str, Any]]:
    """The districts or streets of the jurisdiction: code, name, polygons (a list of polygons' rings), centre."""
    rows = session.execute(_SHAPES, _params(viewer, level) | {"tol": SIMPLIFY_DEG}).mappings().all()
    return [{"code": r["code"], "name": r["name"], "prefix": r["prefix"], "polygons": r["polygons"],
             "centre": [round(r["lon"], 6), round(r["lat"], 6)]} for r in rows]


def region_rows(session: Session, viewer: Viewer, level: str, *, population: dict[int, int],
                fill: str = "population") -> list[dict[str, Any]]:
    """One row per polygon of each district or street (a multipolygon's parts share the region's figures):
    colour by real-time population (``population``: grid id → count, summed per region) or open alerts."""
    p = _params(viewer, level)
    shapes = region_shapes(session, viewer, level)
    people: dict[str, int] = {}
    grids: dict[str, int] = {}
    for grid_id, prefix in session.execute(_GRIDS, p).all():
        people[prefix] = people.get(prefix, 0) + population.get(grid_id, 0)
        grids[prefix] = grids.get(prefix, 0) + 1
    buildings = dict(session.execute(_BUILDINGS, p).all())
    alerts = dict(session.execute(_ALERTS, p | {"police": sorted(POLICE_RULES),
                                                 "police_too": viewer.role in ROLES_SEEING_POLICE_RULES}).all())
    top_pop = max((people.get(s["prefix"], 0) for s in shapes), default=0)
    top_alerts = max((alerts.get(s["prefix"], 0) for s in shapes), default=0)
    out = []
    for s in shapes:
        pop, n_alerts = people.get(s["prefix"], 0), alerts.get(s["prefix"], 0)
        value, top = (n_alerts, max(top_alerts, 3)) if fill == "alerts" else (pop, top_pop)
        row = {
            "kind": level, "code": s["code"], "name": s["name"], "centre": s["centre"],
            "color": ramp(value, top, alpha=150 if level == "district" else 130),
            "population": pop, "alerts": n_alerts, "buildings": buildings.get(s["prefix"], 0), "grids": grids.get(s["prefix"], 0),
            "tip": f"{LEVEL_LABEL[level]} · {s['name']}\n编码 {s['code']}\n实时人口 {pop:,} · 网格 {grids.get(s['prefix'], 0)}"
                   f" · 楼栋 {buildings.get(s['prefix'], 0):,}\n未结预警 {n_alerts}",
        }
        out.extend(row | {"polygon": polygon} for polygon in s["polygons"])
    return out


def region_outline_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The regions' boundaries as segments (white for districts, light blue for streets)."""
    if not rows:
        return []
    return outline_rows(rows, color=OUTLINE[rows[0]["kind"]])


def regions_layer(level: str, data: list[dict[str, Any]] | str) -> pdk.Layer:
    """The choropleth; ``data`` is the rows or the URL of the cached route serving them."""
    return pdk.Layer("PolygonLayer", data=data, id=LAYER_ID[level], get_polygon="polygon", get_fill_color="color",
                     stroked=False, filled=True, extruded=False, pickable=True, auto_highlight=True)


def region_outlines_layer(level: str, data: list[dict[str, Any]] | str) -> pdk.Layer:
    return outline_layer(LAYER_ID[level], data, width_px=OUTLINE_PX[level])


def region_labels_layer(level: str, rows: list[dict[str, Any]]) -> pdk.Layer:
    """Each region's name at its point on surface (one label per region, not per polygon)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["code"], {"position": r["centre"], "name": r["name"]})
    data = list(seen.values())
    characters = "".join(sorted({ch for r in data for ch in r["name"]})) or " "
    return pdk.Layer("TextLayer", data=data, id=f"{LAYER_ID[level]}_label", get_position="position", get_text="name",
                     get_size=LABEL_PX[level], size_units=literal("pixels"), get_color=LABEL[level],
                     character_set=literal(characters), font_family=literal("Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif"),
                     background=True, get_background_color=[10, 20, 40, 190], background_padding=[4, 2],
                     billboard=True, pickable=False, parameters={"depthCompare": literal("always")})


# --- flows between streets ---------------------------------------------------------------------------------

_LATEST = text("SELECT max(minute) FROM gate_flow_minute")
_FLOWS = text(
    """
    SELECT left(hg.code, :n) AS origin, left(coalesce(c.community_code, kg.code), :n) AS dest,
           count(DISTINCT e.person_id) AS people
    FROM access_event e
    JOIN person p ON p.id = e.person_id
    JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id JOIN grid hg ON hg.id = b.grid_id
    JOIN gate gt ON gt.id = e.gate_id
    LEFT JOIN compound c ON c.id = gt.compound_id
    LEFT JOIN key_site ks ON ks.id = gt.key_site_id LEFT JOIN grid kg ON kg.id = ks.grid_id
    WHERE e.ts > :since AND e.ts <= :until AND e.person_id IS NOT NULL AND e.direction = 'in' AND e.result = 'open'
      AND hg.code LIKE ANY(:patterns) AND coalesce(c.community_code, kg.code) LIKE ANY(:patterns)
      AND left(hg.code, :n) <> left(coalesce(c.community_code, kg.code), :n)
    GROUP BY 1, 2 HAVING count(DISTINCT e.person_id) >= :minimum
    ORDER BY 3 DESC
    """
)
FLOW_COLOR = [120, 230, 255, 230]


def flow_window(session: Session, hours: int = FLOW_WINDOW_HOURS) -> tuple[dt.datetime, dt.datetime] | None:
    """The last ``hours`` up to the newest minute the rollups hold (None: no passage yet)."""
    latest = session.execute(_LATEST).scalar()
    if latest is None:
        return None
    until = latest + dt.timedelta(minutes=1)
    return until - dt.timedelta(hours=hours), until


def flow_rows(session: Session, viewer: Viewer, *, level: str = "street", hours: int = FLOW_WINDOW_HOURS,
              minimum: int = MIN_FLOW_PEOPLE) -> list[dict[str, Any]]:
    """Segments between region centres, one line (with an arrowhead's two barbs) per direction: people whose
    home is in the jurisdiction's region A and who entered a gate in its region B in the window. Both ends lie
    in the jurisdiction; a pair with fewer than ``minimum`` people is left out. A → B and B → A are drawn side
    by side (each shifted to its right), width by people."""
    window = flow_window(session, hours)
    if window is None:
        return []
    p = _params(viewer, level)
    pairs = session.execute(_FLOWS, p | {"since": window[0], "until": window[1], "minimum": minimum}).all()
    if not pairs:
        return []
    shapes = {s["prefix"]: s for s in region_shapes(session, viewer, level)}
    top = max(n for _, _, n in pairs)
    out: list[dict[str, Any]] = []
    for origin, dest, people in pairs:
        a, b = shapes.get(origin), shapes.get(dest)
        if a is None or b is None:
            continue
        width = 2 + 8 * people / top
        tip = f"跨{LEVEL_LABEL[level]}流动（近{hours}小时）\n{a['name']} → {b['name']}：{people} 人\n（居住地 → 进入的闸机所在地）"
        out.extend(_arrow(a["centre"], b["centre"], width, tip, people, origin, dest))
    return out


def _arrow(src: list[float], dst: list[float], width: float, tip: str, people: int, origin: str,
           dest: str) -> list[dict[str, Any]]:
    """A shaft shifted to the right of its direction (so the opposite flow stays visible) and two barbs."""
    k = math.cos(math.radians((src[1] + dst[1]) / 2)) or 1.0
    dx, dy = (dst[0] - src[0]) * k, dst[1] - src[1]
    length = math.hypot(dx, dy) or 1e-9
    ux, uy = dx / length, dy / length
    shift = min(0.0015, length * 0.04)
    rx, ry = uy * shift, -ux * shift  # to the right
    a = [src[0] + rx / k, src[1] + ry]
    b = [dst[0] + rx / k - ux * length * 0.15 / k, dst[1] + ry - uy * length * 0.15]  # stop short of the centre
    barb = min(length * 0.08, 0.004)
    common = {"kind": "flow", "color": FLOW_COLOR, "width": round(width, 2), "people": people, "origin": origin,
              "dest": dest, "tip": tip}
    rows = [common | {"source": _r(a), "target": _r(b)}]
    for angle in (0.5, -0.5):  # the backward direction turned by ±29°
        bx = -ux * math.cos(angle) + uy * math.sin(angle)
        by = -ux * math.sin(angle) - uy * math.cos(angle)
        rows.append(common | {"source": _r(b), "target": _r([b[0] + bx * barb / k, b[1] + by * barb]), "barb": True})
    return rows


def _r(p: list[float]) -> list[float]:
    return [round(p[0], 6), round(p[1], 6)]


def flows_layer(data: list[dict[str, Any]] | str) -> pdk.Layer:
    """Flow lines on the outlines' ``LineLayer`` shader (cheap on software WebGL), width in pixels by people."""
    return pdk.Layer("LineLayer", data=data, id="flows", get_source_position="source", get_target_position="target",
                     get_color="color", get_width="width", width_units=literal("pixels"), width_min_pixels=1.5,
                     pickable=True, parameters={"depthCompare": literal("always")})
