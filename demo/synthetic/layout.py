"""The street's geometry: regions, grids, compounds, buildings, gates and key sites around a real place.

Everything is laid out in (u, v) ∈ [0, 1]² over a slightly irregular quadrilateral in UTM 50N
(metres) and mapped bilinearly: iso-u and iso-v lines are straight, so cells that share (u, v)
corners tile exactly, and a box inside a cell stays inside it. Only then is anything transformed to
EPSG:4326 for storage.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from blockdata.geometry import to_metric, to_wgs84
from core.errors import InvalidInput

CENTRE_LONLAT = (118.765, 32.064)  # 宁海路街道, Gulou district, Nanjing


@dataclass(frozen=True)
class Preset:
    name: str
    width_m: float
    height_m: float
    community_grid: tuple[int, int]   # communities as columns × rows
    grids_per_community: tuple[int, int]
    compounds: int
    buildings_per_compound: tuple[int, int]
    floors: tuple[int, int]
    units: tuple[int, int]
    flats_per_unit_floor: tuple[int, int]
    key_sites: int
    days: int
    streets: int = 1


PRESETS = {
    "tiny": Preset("tiny", 800, 600, (2, 1), (2, 1), 2, (3, 4), (3, 6), (1, 2), (1, 2), 2, 14),
    "street": Preset("street", 2400, 1800, (3, 2), (3, 2), 25, (14, 18), (6, 33), (1, 4), (1, 2), 8, 30),
    "city": Preset("city", 2400, 1800, (3, 2), (3, 2), 25, (14, 18), (6, 33), (1, 4), (1, 2), 8, 30, streets=18),
}

# The city tiles copies of the street; one street holds about this many people (measured: 54,800 a street
# over the 12-street city, 54,200–59,300 for single streets with other seeds), so `--people N` asks for
# round(N / PEOPLE_PER_STREET) streets. The default city (18 streets) is the 1 M people.
PEOPLE_PER_STREET = 55_000
# Street codes are <district 6 digits><100 + street index, 3 digits>000, so at most 899 streets; memory caps
# it first (6.6 GB peak in the seeding process for 1 M people, measured).
MAX_PEOPLE = 20_000_000
# Streets per district: Nanjing has about 100 streets in 11 districts.
STREETS_PER_DISTRICT = 10
DISTRICTS = [("320106", "鼓楼区"), ("320102", "玄武区"), ("320104", "秦淮区"), ("320105", "建邺区"), ("320111", "浦口区"),
             ("320113", "栖霞区"), ("320114", "雨花台区"), ("320115", "江宁区"), ("320116", "六合区"), ("320117", "溧水区"),
             ("320118", "高淳区")]


def city_preset(people: int | None) -> Preset:
    """The city preset sized for about ``people`` residents (None: the default 18 streets, about 1 M)."""
    base = PRESETS["city"]
    if people is None:
        return base
    if isinstance(people, bool) or not isinstance(people, int):
        raise InvalidInput(f"--people must be a whole number of people, got {people!r}")
    if not PEOPLE_PER_STREET <= people <= MAX_PEOPLE:
        raise InvalidInput(f"--people must be between {PEOPLE_PER_STREET:,} (one street) and {MAX_PEOPLE:,} "
                           f"(Nanjing has about 9.5 M), got {people:,}")
    return replace(base, streets=max(1, round(people / PEOPLE_PER_STREET)))


def district_of_street(streets: int) -> list[int]:
    """Each street's district index: contiguous runs of about STREETS_PER_DISTRICT, at most len(DISTRICTS)."""
    n = min(len(DISTRICTS), -(-streets // STREETS_PER_DISTRICT))
    return [s * n // streets for s in range(streets)]


@dataclass
class Layout:
    """Geometry in EPSG:4326, keyed by the indices the population module uses."""

    street: Polygon
    communities: list[Polygon]
    grids: list[tuple[int, int, Polygon]]             # (community index, sequence, polygon)
    compounds: list[tuple[int, Polygon]]              # (grid index, polygon)
    buildings: list[tuple[int, int, Polygon]]         # (compound index, grid index, polygon)
    gates: list[tuple[int, Point]]                    # (compound index, point on its boundary)
    key_sites: list[tuple[int, Polygon]]              # (grid index, polygon)
    key_site_gates: list[tuple[int, Point]] = field(default_factory=list)


class Patch:
    """A bilinear map from (u, v) to metres over an irregular quadrilateral."""

    def __init__(self, rng: np.random.Generator, centre: tuple[float, float], width: float, height: float) -> None:
        cx, cy = centre
        jitter = rng.uniform(-0.03, 0.03, size=(4, 2)) * (width, height)
        self.corners = np.array(
            [[cx - width / 2, cy - height / 2], [cx + width / 2, cy - height / 2],
             [cx + width / 2, cy + height / 2], [cx - width / 2, cy + height / 2]]
        ) + jitter

    def xy(self, u: float, v: float) -> tuple[float, float]:
        a, b, c, d = self.corners
        p = (1 - u) * (1 - v) * a + u * (1 - v) * b + u * v * c + (1 - u) * v * d
        return float(p[0]), float(p[1])

    def box(self, u0: float, v0: float, u1: float, v1: float) -> Polygon:
        return Polygon([self.xy(u0, v0), self.xy(u1, v0), self.xy(u1, v1), self.xy(u0, v1)])


def _wgs(geom):  # noqa: ANN001, ANN202
    return shapely.set_precision(to_wgs84(geom), 1e-9)


def build_layout(preset: Preset, rng: np.random.Generator, centre: tuple[float, float] = CENTRE_LONLAT) -> Layout:
    metric_centre = to_metric(Point(centre))
    patch = Patch(rng, (metric_centre.x, metric_centre.y), preset.width_m, preset.height_m)
    ccols, crows = preset.community_grid
    gcols, grows = preset.grids_per_community
    communities, grids, cells = [], [], []
    for ci in range(ccols * crows):
        cu, cv = ci % ccols, ci // ccols
        u0, v0, u1, v1 = cu / ccols, cv / crows, (cu + 1) / ccols, (cv + 1) / crows
        communities.append(patch.box(u0, v0, u1, v1))
        for gi in range(gcols * grows):
            gu, gv = gi % gcols, gi // gcols
            cell = (u0 + (u1 - u0) * gu / gcols, v0 + (v1 - v0) * gv / grows,
                    u0 + (u1 - u0) * (gu + 1) / gcols, v0 + (v1 - v0) * (gv + 1) / grows)
            cells.append(cell)
            grids.append((ci, gi + 1, patch.box(*cell)))
    # Compounds go in a spread-out subset of grids; key sites in the grids left over.
    order = rng.permutation(len(grids))
    compound_grids = sorted(order[: preset.compounds].tolist())
    free_grids = sorted(order[preset.compounds:].tolist())
    compounds, buildings, gates = [], [], []
    for k, gi in enumerate(compound_grids):
        u0, v0, u1, v1 = cells[gi]
        du, dv = u1 - u0, v1 - v0
        inset = rng.uniform(0.06, 0.12)
        cu0, cv0, cu1, cv1 = u0 + du * inset, v0 + dv * inset, u1 - du * inset, v1 - dv * inset
        compounds.append((gi, patch.box(cu0, cv0, cu1, cv1)))
        n = int(rng.integers(preset.buildings_per_compound[0], preset.buildings_per_compound[1] + 1))
        cols = int(np.ceil(np.sqrt(n * 1.4)))
        rows = int(np.ceil(n / cols))
        slots = rng.permutation(cols * rows)[:n]
        for slot in sorted(slots.tolist()):
            bu, bv = slot % cols, slot // cols
            su, sv = (cu1 - cu0) / cols, (cv1 - cv0) / rows
            fu, fv = rng.uniform(0.45, 0.65), rng.uniform(0.3, 0.45)  # slab-shaped residential blocks
            ou, ov = rng.uniform(0.1, 0.9 - fu), rng.uniform(0.15, 0.85 - fv)
            bu0, bv0 = cu0 + su * (bu + ou), cv0 + sv * (bv + ov)
            buildings.append((k, gi, patch.box(bu0, bv0, bu0 + su * fu, bv0 + sv * fv)))
        sides = [(0.5, 0.0), (0.5, 1.0), (0.0, 0.5), (1.0, 0.5)]
        for side in range(int(rng.integers(2, 5))):
            su_, sv_ = sides[side]
            along = rng.uniform(0.25, 0.75)
            u = cu0 + (cu1 - cu0) * (along if su_ == 0.5 else su_)
            v = cv0 + (cv1 - cv0) * (along if sv_ == 0.5 else sv_)
            gates.append((k, patch.xy(u, v)))
    key_sites, site_gates = [], []
    for j, gi in enumerate(free_grids[: preset.key_sites]):
        u0, v0, u1, v1 = cells[gi]
        du, dv = u1 - u0, v1 - v0
        su0, sv0, su1, sv1 = u0 + du * 0.2, v0 + dv * 0.2, u1 - du * 0.25, v1 - dv * 0.3
        key_sites.append((gi, patch.box(su0, sv0, su1, sv1)))
        site_gates.append((j, patch.xy((su0 + su1) / 2, sv0)))
    street = patch.box(0, 0, 1, 1)
    layout = Layout(
        street=_wgs(street), communities=[_wgs(c) for c in communities],
        grids=[(c, s, _wgs(p)) for c, s, p in grids], compounds=[(g, _wgs(p)) for g, p in compounds],
        buildings=[(c, g, _wgs(p)) for c, g, p in buildings], gates=[],
        key_sites=[(g, _wgs(p)) for g, p in key_sites],
    )
    # Gates exactly on the stored (WGS84) ring: project the metric point onto the transformed boundary.
    for k, xy in gates:
        ring = layout.compounds[k][1].exterior
        layout.gates.append((k, ring.interpolate(ring.project(to_wgs84(Point(xy))))))
    for j, xy in site_gates:
        ring = layout.key_sites[j][1].exterior
        layout.key_site_gates.append((j, ring.interpolate(ring.project(to_wgs84(Point(xy))))))
    return layout
