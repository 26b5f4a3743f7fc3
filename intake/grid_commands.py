"""`gridpulse grids generate`: grids for a street or community that has none drawn, previewed before written.

The area's outline is the region's polygon; a region that only has a point (official lists give
streets and communities as code, name and a point) gets the Voronoi cell of its point among its
siblings' points inside its parent's outline, recursively (a community inside its street's cell inside
the district's fence), and the run says so. ``--boundary FILE`` gives outlines the database lacks (a
district fence; features matched by their code, or one feature without a code for the area itself).

Buildings, roads and compounds come from the database and from ``--from FILE…`` (an OSM export:
``building=*`` polygons, ``highway=*`` lines of the classes in ROAD_CLASSES, ``landuse=residential`` or
Geofabrik ``fclass=residential`` polygons as compounds). A street is first cut into its communities
(their polygons, else the Voronoi cells of their points) and each community is divided on its own, so
that every community with a place gets its grids; grids of a community are numbered 001, 002 … north
to south, west to east. Without ``--write`` nothing is written: ``--preview`` writes
the proposal as GeoJSON or as a self-contained HTML map (inline SVG, nothing loaded from outside).
With ``--write`` the grids are written, and communities (and the street) without a polygon get the
union of their grids as one.
"""
from __future__ import annotations

import argparse
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from intake import gridding
from blockdata.models import SRID, Building, Compound, Grid, Region, RegionLevel

ROAD_CLASSES = frozenset({"motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
                          "living_street", "motorway_link", "trunk_link", "primary_link", "secondary_link",
                          "tertiary_link"})
RESIDENTIAL_BUILDINGS = frozenset({"residential", "apartments", "house", "dormitory", "detached", "terrace",
                                   "semidetached_house"})
DEFAULT_FLOORS = 6

@dataclass
class Inputs:
    buildings: list[gridding.BuildingIn]
    compounds: list[gridding.CompoundIn]
    roads: list[BaseGeometry]
    boundaries: dict[str | None, BaseGeometry]

def _floors(props: dict[str, Any], default: int) -> int:
    for key, per in (("building:levels", 1.0), ("floors", 1.0), ("height", 3.0)):
        try:
            value = float(str(props.get(key) or "").replace("m", "").strip())
        except ValueError:
            continue
        if value > 0:
            return max(1, min(200, round(value / per)))
    return default

def read_inputs(paths: list[str], boundary: str | None, crs: str | None, default_floors: int) -> Inputs:
    """Buildings, compounds and roads from the files (OSM tags or Geofabrik columns), in WGS84."""
    from intake.coords import to_wgs84
    from intake.importers import resolve_crs
    from intake.importers.places import region_code
    from intake.importers.readers import read_features

    out = Inputs([], [], [], {})
    raw_buildings: list[tuple[BaseGeometry, dict[str, Any]]] = []
    for path in paths:
        source = read_features(path)
        src = resolve_crs(crs, source)
        for f in source.features:
            if f.geom is None or f.error:
                continue
            geom, props, kind = to_wgs84(f.geom, src), f.props, f.geom.geom_type
            if not geom.is_valid:
                geom = geom.buffer(0)
            if "Polygon" in kind and props.get("building") not in (None, "", "no"):
                raw_buildings.append((geom, props))
            elif "Polygon" in kind and (props.get("landuse") == "residential" or props.get("fclass") == "residential"):
                for part in gridding._polygons(geom):
                    out.compounds.append(gridding.CompoundIn(part, str(props.get("name") or "")))
            elif "LineString" in kind and props.get("highway") in ROAD_CLASSES:
                out.roads.append(geom)
    compound_shapes = [c.geom for c in out.compounds]
    for geom, props in raw_buildings:
        tag = str(props.get("building"))
        in_compound = any(c.covers(geom.representative_point()) for c in compound_shapes)
        residential = tag in RESIDENTIAL_BUILDINGS or (tag == "yes" and (in_compound or not compound_shapes))
        for part in gridding._polygons(geom):
            out.buildings.append(gridding.BuildingIn(part, _floors(props, default_floors), residential))
    if boundary:
        source = read_features(boundary)
        src = resolve_crs(crs, source)
        for f in source.features:
            if f.geom is None or f.error:
                raise InvalidInput(f"feature {f.row} has no usable outline ({f.error or 'no geometry'})", record=boundary)
            code = region_code(f.props.get("code") or f.props.get("adcode"))
            out.boundaries[code] = to_wgs84(f.geom, src).buffer(0)
    return out

def outline(session: Session, code: str, boundaries: dict[str | None, BaseGeometry], notes: list[str]) -> BaseGeometry:
    """The region's outline: its polygon, a --boundary feature, or its Voronoi cell among its siblings."""
    region = session.get(Region, code)
    if region is None:
        raise NotFound(f"no region {code} (import regions first)", record="--in")
    if code in boundaries:
        return boundaries[code]
    if region.geom is not None:
        return to_shape(region.geom)
    if region.location is None:
        raise InvalidInput(f"{region.name} ({code}) has neither a polygon nor a point: import it with one, or give its "
                           "outline with --boundary FILE", record="--in")
    if region.parent_code is None:
        raise InvalidInput(f"{region.name} has no polygon: give it with --boundary FILE", record="--in")
    parent = outline(session, region.parent_code, boundaries, notes)
    siblings = [to_shape(r.location) for r in session.scalars(
        select(Region).where(Region.parent_code == region.parent_code, Region.location.is_not(None)))]
    notes.append(f"{region.name} ({code}) has no polygon: used the Voronoi cell of its point among "
                 f"{len(siblings)} sibling points inside its parent's outline (an approximation)")
    return gridding.voronoi_cell(to_shape(region.location), siblings, parent)

def _db_inputs(session: Session, area: BaseGeometry, inputs: Inputs, default_floors: int) -> None:
    """Buildings and compounds already in the database inside the area join those from the files."""
    wkt = f"SRID={SRID};{area.wkt}"
    for c in session.scalars(select(Compound).where(Compound.geom.ST_Intersects(wkt))):
        inputs.compounds.append(gridding.CompoundIn(to_shape(c.geom), c.name))
    for b in session.scalars(select(Building).where(Building.geom.ST_Intersects(wkt))):
        inputs.buildings.append(gridding.BuildingIn(to_shape(b.geom), b.floors or default_floors, True))

@dataclass
class Proposed:
    community_code: str
    community_name: str
    sequence: str
    cell: gridding.Cell

    @property
    def code(self) -> str:
        return self.community_code + self.sequence

    @property
    def name(self) -> str:
        return f"{self.community_name}第{int(self.sequence)}网格"

def communities_for(session: Session, code: str, area: BaseGeometry, boundaries: dict, notes: list[str]) -> list[tuple[Region, BaseGeometry]]:
    """The communities the grids are shared between, each with the outline they are assigned by."""
    region = session.get(Region, code)
    if region.level is RegionLevel.community:
        return [(region, area)]
    if region.level is not RegionLevel.street:
        raise InvalidInput(f"{region.name} is a {region.level.value}: generate grids for a street or a community",
                           record="--in")
    communities = list(session.scalars(select(Region).where(Region.parent_code == code).order_by(Region.code)))
    placed = [c for c in communities if c.geom is not None or c.location is not None or c.code in boundaries]
    unplaced = [c for c in communities if c not in placed]
    if unplaced:
        notes.append(f"{len(unplaced)} communities of {region.name} have neither polygon nor point and get no grid: "
                     + ", ".join(f"{c.code} {c.name}" for c in unplaced[:10]))
    if not placed:
        raise InvalidInput(f"no community of {region.name} has a polygon or a point: import its communities as points "
                           "(code, name, location) or generate per community with --in COMMUNITY", record="--in")
    points = [to_shape(c.location) for c in placed if c.location is not None]
    out = []
    for c in placed:
        if c.code in boundaries:
            out.append((c, boundaries[c.code]))
        elif c.geom is not None:
            out.append((c, to_shape(c.geom)))
        else:
            cell = gridding.voronoi_cell(to_shape(c.location), points, area)
            if cell.is_empty:
                notes.append(f"{c.code} {c.name}: its point lies outside {region.name}'s outline and gets no grid")
                continue
            out.append((c, cell))
    return out

def divide_by_community(session: Session, area: BaseGeometry, communities: list[tuple[Region, BaseGeometry]],
                        inputs: Inputs, **options: Any) -> tuple[list[Proposed], list[str]]:
    """Each community's part of the area divided on its own (so every placed community gets its grids),
    numbered north to south, west to east; also the communities that already have grids."""
    proposed: list[Proposed] = []
    for community, shape in communities:
        part = gridding.as_polygon(shape.intersection(area).buffer(0)) if len(communities) > 1 else gridding.as_polygon(area)
        if part.is_empty:
            continue
        cells = gridding.divide(part, buildings=inputs.buildings, compounds=inputs.compounds, roads=inputs.roads, **options)
        cells.sort(key=lambda c: (-round(c.geom.representative_point().y, 3), c.geom.representative_point().x))
        proposed += [Proposed(community.code, community.name, f"{n:03d}", cell) for n, cell in enumerate(cells, start=1)]
    codes = [c.code for c, _ in communities]
    existing = sorted(set(session.scalars(select(Grid.community_code).where(Grid.community_code.in_(codes)))))
    return proposed, existing


def feature_collection(proposed: list[Proposed]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(p.cell.geom),
         "properties": {"code": p.code, "name": p.name, "community_code": p.community_code,
                        "households": p.cell.households, "buildings": p.cell.buildings,
                        "compounds": ", ".join(p.cell.compounds)}} for p in proposed]}

def preview_html(proposed: list[Proposed], title: str, target: int) -> str:
    """A self-contained page: the proposed grids as SVG with their codes and households (nothing external)."""
    from shapely.ops import unary_union

    if not proposed:
        return "<!doctype html><meta charset=utf-8><p>no grid proposed</p>"
    minx, miny, maxx, maxy = unary_union([p.cell.geom for p in proposed]).bounds
    w, h = 1000, max(200, int(1000 * (maxy - miny) / max(maxx - minx, 1e-9)))

    def xy(x: float, y: float) -> str:
        return f"{(x - minx) / (maxx - minx) * w:.1f},{(maxy - y) / (maxy - miny) * h:.1f}"

    palette = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd"]
    communities = sorted({p.community_code for p in proposed})
    shapes, labels = [], []
    for p in proposed:
        colour = palette[communities.index(p.community_code) % len(palette)]
        ring = " ".join(xy(x, y) for x, y in p.cell.geom.exterior.coords)
        tip = html.escape(f"{p.code} {p.name}: {p.cell.households} 户, {p.cell.buildings} 栋 {', '.join(p.cell.compounds)}")
        shapes.append(f'<polygon points="{ring}" fill="{colour}" fill-opacity="0.6" stroke="#333" stroke-width="1">'
                      f"<title>{tip}</title></polygon>")
        c = p.cell.geom.representative_point()
        labels.append(f'<text x="{xy(c.x, c.y).split(",")[0]}" y="{xy(c.x, c.y).split(",")[1]}" font-size="11" '
                      f'text-anchor="middle">{p.sequence} · {p.cell.households}户</text>')
    rows = "".join(f"<tr><td>{p.code}</td><td>{html.escape(p.name)}</td><td>{p.cell.households}</td>"
                   f"<td>{p.cell.buildings}</td><td>{html.escape(', '.join(p.cell.compounds))}</td></tr>" for p in proposed)
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f"<body><h1>{html.escape(title)}</h1><p>{len(proposed)} 个网格，目标每格约 {target} 户</p>"
            f'<svg id="grids" viewBox="0 0 {w} {h}" width="100%">{"".join(shapes)}{"".join(labels)}</svg>'
            f'<table id="grid-table" border="1"><tr><th>编码</th><th>名称</th><th>户数</th><th>楼栋</th><th>小区</th></tr>{rows}'
            "</table></body></html>")

def write(session: Session, proposed: list[Proposed], street_code: str | None) -> list[str]:
    """Write the grids; communities (and the street) without a polygon get the union of their grids."""
    from blockdata import registry

    derived = []
    for p in proposed:
        registry.add_grid(session, community_code=p.community_code, sequence=p.sequence, name=p.name[:64],
                          geom=gridding.as_polygon(p.cell.geom))
    by_community: dict[str, list[BaseGeometry]] = {}
    for p in proposed:
        by_community.setdefault(p.community_code, []).append(p.cell.geom)
    for code, geoms in by_community.items():
        region = session.get(Region, code)
        if region.geom is None:
            region.geom = from_shape(gridding.union_wgs84(geoms), srid=SRID)
            derived.append(code)
    if street_code:
        street = session.get(Region, street_code)
        if street.geom is None:
            street.geom = from_shape(gridding.union_wgs84([p.cell.geom for p in proposed]), srid=SRID)
            derived.append(street_code)
    session.flush()
    return derived

def _generate(args: argparse.Namespace) -> int:
    from blockdata.db import transaction

    if args.per_grid < 10:
        raise InvalidInput(f"--per-grid is households (or buildings) per grid, e.g. 400; got {args.per_grid}",
                           record="--per-grid")
    if not (args.preview or args.write):
        raise InvalidInput("nothing to do: give --preview FILE (.geojson or .html) to look first, and --write to write",
                           record="grids generate")
    inputs = read_inputs(args.source or [], args.boundary, args.crs, args.default_floors)
    notes: list[str] = []
    with transaction() as session:
        code = args.within
        region = session.get(Region, code)
        if region is not None and region.level not in (RegionLevel.street, RegionLevel.community):
            raise InvalidInput(f"{region.name} is a {region.level.value}: generate grids for a street or a community",
                               record="--in")
        if None in inputs.boundaries:  # one outline without a code: the area's own
            inputs.boundaries.setdefault(code, inputs.boundaries.pop(None))
        area = outline(session, code, inputs.boundaries, notes)
        _db_inputs(session, area, inputs, args.default_floors)
        communities = communities_for(session, code, area, inputs.boundaries, notes)
        proposed, existing = divide_by_community(session, area, communities, inputs, target=args.per_grid, by=args.by,
                                                 household_m2=args.household_m2, plot_ratio=args.plot_ratio)
        if args.preview:
            path = Path(args.preview)
            if path.suffix.lower() == ".html":
                region = session.get(Region, code)
                path.write_text(preview_html(proposed, f"{region.name} 网格划分预览", args.per_grid), encoding="utf-8")
            else:
                path.write_text(json.dumps(feature_collection(proposed), ensure_ascii=False), encoding="utf-8")
        derived: list[str] = []
        if args.write:
            if existing:
                raise InvalidInput(f"communities {', '.join(existing)} already have grids: generate only where none are "
                                   "drawn (or --in a community without grids)", record="--write")
            street = code if session.get(Region, code).level is RegionLevel.street else None
            derived = write(session, proposed, street)
    sizes = sorted(p.cell.households if args.by == "households" else p.cell.buildings for p in proposed)
    for note in notes:
        print(f"note: {note}")
    print(f"{'wrote' if args.write else 'proposed'} {len(proposed)} grids in {len({p.community_code for p in proposed})} "
          f"communities from {len(inputs.buildings)} buildings, {len(inputs.compounds)} compounds, {len(inputs.roads)} roads"
          + (f"; {args.by} per grid {sizes[0]}–{sizes[-1]} (median {sizes[len(sizes) // 2]})" if sizes else "")
          + (f"; preview: {args.preview}" if args.preview else "")
          + ("" if args.write else "; nothing written (add --write)"))
    print(json.dumps({"grids": [{"code": p.code, "households": p.cell.households, "buildings": p.cell.buildings}
                                for p in proposed], "derived_outlines": derived, "written": bool(args.write)},
                     ensure_ascii=False))
    return 0

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grids", help="grid division: generate grids for a street or community that has none drawn")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = acts.add_parser("generate", help="split a street or community into grids along roads and compounds, sized by "
                                         "households (or buildings); preview first, --write to write")
    q.add_argument("--in", dest="within", required=True, metavar="CODE", help="the street or community (12 digits)")
    q.add_argument("--from", dest="source", nargs="+", metavar="FILE",
                   help="OSM exports or other files with buildings (building=*), roads (highway=*) and compounds "
                        "(landuse=residential, fclass=residential); the database's buildings and compounds count too")
    q.add_argument("--boundary", metavar="FILE", help="outlines the database lacks (e.g. a district fence; features "
                                                      "matched by code/adcode, or one feature without a code for the area)")
    q.add_argument("--crs", help="coordinates of the files: wgs84, gcj02, bd09 or EPSG:nnnn (default: the file's own)")
    q.add_argument("--per-grid", type=int, default=400, help="target households per grid (national guidance 300–500; "
                                                            "default 400), or buildings with --by buildings")
    q.add_argument("--by", choices=("households", "buildings"), default="households")
    q.add_argument("--household-m2", type=float, default=90.0, help="floor area of a typical flat (households estimate)")
    q.add_argument("--plot-ratio", type=float, default=gridding.PLOT_RATIO,
                   help="floor area over site area (容积率) for compounds whose buildings are not mapped "
                        f"(default {gridding.PLOT_RATIO})")
    q.add_argument("--default-floors", type=int, default=DEFAULT_FLOORS,
                   help=f"floors of buildings whose source gives neither levels nor height (default {DEFAULT_FLOORS})")
    q.add_argument("--preview", metavar="FILE", help="write the proposal to FILE: .geojson, or .html (a map to open)")
    q.add_argument("--write", action="store_true", help="write the grids (and derived community outlines)")
    q.set_defaults(func=_generate)

