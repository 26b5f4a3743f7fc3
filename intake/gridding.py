"""Grid division (网格划分): an area split into grids of about N households that follow roads and compounds.

National guidance draws urban grids at roughly 300–500 households each, along roads and compound walls
so that a grid worker's round never crosses a main road or cuts a compound in two. The method, all in
metres (UTM 50N):

1. **Blocks.** The area is cut by the road network (lines polygonized with the area's outline); without
   roads the area is one block.
2. **Households.** Each residential building counts floors × footprint × ``USABLE_SHARE`` / ``household_m2``
   households (at least one); a compound none of whose buildings is mapped counts its site area × plot
   ratio (容积率, default ``PLOT_RATIO``) the same way; each compound is one indivisible item (its buildings' households) so that
   no grid splits a compound; buildings outside compounds are items of their own.
3. **Splitting.** A block with more than 1.5 × the target is split into round(households / target) parts:
   a weighted k-means of its items' points, then the Voronoi cells of the cluster centres clipped to the
   block; each compound inside the block is then given whole to its cluster's cell, so that grid edges run
   along compound boundaries rather than through them.
4. **Merging.** A cell below half the target is merged into the neighbour it shares the longest edge with
   (the one with fewer households on a tie), until none is left or none has a neighbour.

The result is a list of cells (polygons in WGS84) with their households, buildings and compounds; the
caller assigns communities, numbers, previews and writes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from blockdata.geometry import to_metric, to_wgs84

USABLE_SHARE = 0.75
PLOT_RATIO = 1.8    # floor area over site area of a typical urban residential compound (容积率)
SPLIT_ABOVE = 1.5   # × target: a block this big is split
MERGE_BELOW = 0.5   # × target: a cell this small is merged into a neighbour
MIN_CELL_M2 = 50.0  # slivers left by clipping are merged whatever their households
SNAP_M = 0.001      # the working precision: vertices on a millimetre grid


@dataclass(frozen=True)
class BuildingIn:
    """A building footprint (WGS84) with its floors and whether it houses households."""

    geom: BaseGeometry
    floors: int
    residential: bool = True


@dataclass(frozen=True)
class CompoundIn:
    geom: BaseGeometry
    name: str = ""


@dataclass
class Cell:
    """A proposed grid: its polygon (metric while working, WGS84 in the result) and what it holds."""

    geom: BaseGeometry
    households: int = 0
    buildings: int = 0
    compounds: list[str] = field(default_factory=list)


@dataclass
class _Item:
    point: Point
    households: int
    buildings: int
    compound: int | None  # index into the compounds list


def households_of(footprint_m2: float, floors: int, household_m2: float) -> int:
    """Households a residential building holds: floor area over the usual flat size, at least one."""
    return max(1, round(footprint_m2 * floors * USABLE_SHARE / household_m2))


def blocks(area: BaseGeometry, roads: list[BaseGeometry]) -> list[Polygon]:
    """The area cut by the roads (all metric): the polygons between roads, covering the area."""
    if not roads:
        return _polygons(area)
    lines = unary_union([shapely.intersection(r, area.buffer(1)) for r in roads] + [area.boundary])
    pieces = [p for p in shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.node(lines))))
              if p.area >= 1]
    inside = [shapely.intersection(p, area) for p in pieces if area.contains(p.representative_point())]
    parts = [q for p in inside for q in _polygons(p)]
    return parts or _polygons(area)


def _areal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygonal part of a geometry: clipping two polygons that touch along an edge or at a
    corner also yields lines and points (a GeometryCollection, which has no boundary to measure)."""
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = _polygons(geom)
    return unary_union(parts) if parts else Polygon()


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    return [p for g in getattr(geom, "geoms", []) for p in _polygons(g)]


def _items(buildings: list[BuildingIn], compounds: list[BaseGeometry], household_m2: float, by: str,
           plot_ratio: float) -> list[_Item]:
    """One item per compound (its buildings together) and per building outside every compound (metric)."""
    tree = shapely.STRtree(compounds) if compounds else None
    per_compound: dict[int, list[int]] = {}
    loose: list[_Item] = []
    for b in buildings:
        footprint = to_metric(b.geom)
        point = footprint.representative_point()
        households = households_of(footprint.area, b.floors, household_m2) if b.residential else 0
        weight = 1 if by == "buildings" else households
        hit = None
        if tree is not None:
            for k in tree.query(point, predicate="within"):
                hit = int(k)
                break
        if hit is None:
            loose.append(_Item(point, weight, 1, None))
        else:
            acc = per_compound.setdefault(hit, [0, 0])
            acc[0] += weight
            acc[1] += 1
    items = [_Item(compounds[k].representative_point(), h, n, k) for k, (h, n) in per_compound.items()]
    for k, geom in enumerate(compounds):  # a compound whose buildings are not mapped: by its plot ratio
        if k not in per_compound and not geom.is_empty and by == "households":
            items.append(_Item(geom.representative_point(), compound_households(geom.area, plot_ratio, household_m2), 0, k))
    return items + loose


def compound_households(area_m2: float, plot_ratio: float, household_m2: float) -> int:
    """Households of a compound without mapped buildings: its floor area (site × plot ratio) in flats."""
    return max(1, round(area_m2 * plot_ratio * USABLE_SHARE / household_m2))


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int, iterations: int = 30) -> np.ndarray:
    """Weighted k-means, seeded by farthest points (deterministic); returns each point's cluster."""
    centres = [points[int(np.argmax(weights))]]
    for _ in range(1, k):
        d = np.min([np.hypot(*(points - c).T) for c in centres], axis=0)
        centres.append(points[int(np.argmax(d))])
    centres = np.array(centres, dtype=float)
    labels = np.zeros(len(points), dtype=int)
    w = np.maximum(weights, 1e-6)
    for _ in range(iterations):
        dist = np.stack([np.hypot(*(points - c).T) for c in centres])
        labels = np.argmin(dist, axis=0)
        for j in range(k):
            mask = labels == j
            if mask.any():
                centres[j] = np.average(points[mask], axis=0, weights=w[mask])
    return labels


def _split(block: Polygon, items: list[_Item], compounds: list[BaseGeometry], target: int) -> list[Cell]:
    total = sum(i.households for i in items)
    k = min(len(items), max(1, round(total / target)))
    if total <= SPLIT_ABOVE * target or k <= 1:
        return [Cell(block, total, sum(i.buildings for i in items), [])]
    pts = np.array([[i.point.x, i.point.y] for i in items])
    labels = _kmeans(pts, np.array([i.households for i in items], dtype=float), k)
    centres = [Point(np.average(pts[labels == j], axis=0)) for j in range(k) if (labels == j).any()]
    used = [j for j in range(k) if (labels == j).any()]
    if len(centres) < 2:
        return [Cell(block, total, sum(i.buildings for i in items), [])]
    regions = shapely.voronoi_polygons(shapely.MultiPoint(centres), extend_to=block.envelope.buffer(10))
    cells_geom = []
    for c in centres:
        region = next(r for r in regions.geoms if r.covers(c))
        cells_geom.append(_areal(shapely.intersection(region, block)))
    # compounds go whole to their cluster's cell
    for item, label in zip(items, labels):
        if item.compound is None:
            continue
        piece = shapely.intersection(compounds[item.compound], block)
        owner = used.index(label)
        for j in range(len(cells_geom)):
            moved = shapely.union(cells_geom[j], piece) if j == owner else shapely.difference(cells_geom[j], piece)
            cells_geom[j] = _areal(moved)
    cells = [Cell(g) for g in cells_geom]
    for item, label in zip(items, labels):
        cell = cells[used.index(label)]
        cell.households += item.households
        cell.buildings += item.buildings
    return cells


def _merge_small(cells: list[Cell], target: int) -> list[Cell]:
    """Merge cells below half the target (or slivers) into the neighbour sharing the longest edge."""
    cells = [c for c in cells if not c.geom.is_empty]
    while True:
        small = sorted((c for c in cells if c.households < MERGE_BELOW * target or c.geom.area < MIN_CELL_M2),
                       key=lambda c: (c.households, c.geom.area))
        merged = False
        for c in small:
            best, best_edge = None, 0.0
            for other in cells:
                if other is c:
                    continue
                edge = shapely.intersection(c.geom.boundary, other.geom.boundary).length
                if edge > best_edge + 1e-6 or (best is not None and abs(edge - best_edge) <= 1e-6
                                               and other.households < best.households):
                    best, best_edge = other, edge
            if best is None or best_edge < 1.0:
                continue
            best.geom = _clean(shapely.union(best.geom, c.geom))
            best.households += c.households
            best.buildings += c.buildings
            best.compounds += c.compounds
            cells.remove(c)
            merged = True
            break
        if not merged:
            return cells


def _clean(geom: BaseGeometry) -> BaseGeometry:
    """Close hairline gaps left by clipping (a few centimetres), keep the shape, and snap to a millimetre:
    a neck narrower than that (two parts joined by a hair) becomes two parts, which ``_single_polygons``
    separates and ``_merge_small`` gives to the neighbour each shares an edge with. Left in, the hair
    collapses when the polygon is reprojected to WGS84 and the grid crosses itself."""
    closed = shapely.make_valid(geom.buffer(0.05, join_style="mitre").buffer(-0.05, join_style="mitre"))
    return _areal(shapely.set_precision(_areal(closed), SNAP_M))


def _single_polygons(cells: list[Cell]) -> list[Cell]:
    """A grid is one polygon: a cell in several parts becomes one cell per part (counted again after)."""
    return [Cell(p) for c in cells for p in (_polygons(_clean(c.geom)) or [c.geom])]


def _count(cells: list[Cell], items: list[_Item]) -> list[Cell]:
    """Households and buildings of each cell from the items whose point it covers."""
    for c in cells:
        inside = [i for i in items if c.geom.covers(i.point)]
        c.households = sum(i.households for i in inside)
        c.buildings = sum(i.buildings for i in inside)
    return cells


def divide(area_wgs84: BaseGeometry, *, buildings: list[BuildingIn], compounds: list[CompoundIn],
           roads: list[BaseGeometry], target: int = 400, by: str = "households", household_m2: float = 90.0,
           plot_ratio: float = PLOT_RATIO) -> list[Cell]:
    """The area's grids (WGS84 polygons), each with its households (or buildings) and names of compounds."""
    area = to_metric(area_wgs84)
    comp = [shapely.intersection(to_metric(c.geom), area) for c in compounds]
    items = _items([b for b in buildings if area.covers(to_metric(b.geom).representative_point())], comp, household_m2, by, plot_ratio)
    cells: list[Cell] = []
    tree_blocks = blocks(area, [to_metric(r) for r in roads])
    for block in tree_blocks:
        inside = [i for i in items if block.covers(i.point)]
        cells.extend(_split(block, inside, comp, target))
    cells = _merge_small(cells, target)
    cells = _merge_small(_count(_single_polygons(cells), items), target)
    cells = _count(_single_polygons(cells), items)
    for c in cells:
        c.compounds = sorted({compounds[k].name for k, g in enumerate(comp)
                              if compounds[k].name and not g.is_empty and c.geom.covers(g.representative_point())})
    return [Cell(valid_wgs84(c.geom), c.households, c.buildings, c.compounds) for c in cells]


def valid_wgs84(metric: BaseGeometry) -> BaseGeometry:
    """A valid metric polygon in WGS84, valid still. Reprojection moves every vertex by a different
    rounding, so two edges a few millimetres apart (left by clipping along a road or a compound wall)
    can end up crossing; the repair keeps the polygon and drops only the slivers it splits off."""
    out = to_wgs84(metric)
    if out.is_valid:
        return out
    parts = _polygons(shapely.make_valid(out))
    if not parts:
        return out
    return max(parts, key=lambda p: p.area) if len(parts) > 1 and _negligible(parts) else unary_union(parts)


def _negligible(parts: list[Polygon]) -> bool:
    """Whether every part but the largest is a sliver (under a square metre): what a repair splits off."""
    biggest = max(parts, key=lambda p: p.area)
    return all(to_metric(p).area < 1.0 for p in parts if p is not biggest)


def voronoi_cell(point: Point, siblings: list[Point], within: BaseGeometry) -> BaseGeometry:
    """The part of ``within`` nearer to ``point`` than to any sibling's point (WGS84 in, WGS84 out):
    the outline of a region that only has a point, approximated from its siblings' points."""
    area = to_metric(within)
    me = to_metric(point)
    others = [to_metric(s) for s in siblings if not s.equals(point)]
    if not others:
        return within
    regions = shapely.voronoi_polygons(shapely.MultiPoint([me, *others]), extend_to=area.envelope.buffer(1000))
    mine = next(r for r in regions.geoms if r.covers(me))
    cell = shapely.intersection(mine, area)
    parts = _polygons(cell)
    if not parts:
        return Polygon()  # the point's cell lies outside ``within``: nothing of it is this region's
    best = max(parts, key=lambda p: p.area) if not any(p.covers(me) for p in parts) else next(p for p in parts if p.covers(me))
    return to_wgs84(best)


def as_polygon(geom: BaseGeometry) -> Polygon:
    """The largest polygon of a geometry (MultiPolygon outlines of regions: the main part)."""
    parts = _polygons(geom)
    return max(parts, key=lambda p: p.area) if parts else Polygon()


def union_wgs84(geoms: list[BaseGeometry]) -> MultiPolygon:
    """Community outlines from their grids."""
    u = _clean_wgs(unary_union(geoms))
    return u if isinstance(u, MultiPolygon) else MultiPolygon(_polygons(u))


def _clean_wgs(geom: BaseGeometry) -> BaseGeometry:
    return to_wgs84(_clean(to_metric(geom)))
