"""Dwellings (房屋) generated from a building's layout: floors × units × rooms per floor, with floor areas.

A street office that imported its buildings from OSM has footprints and (sometimes) floors, but no
dwelling for anyone to live in. The layout of a typical residential block is regular, so the office
states it (``--units 2 --per-floor 2``) and gets one dwelling per unit, floor and position, numbered as
door plates are (unit 2, floor 5, position 1 → room 501, code ``<building>-2-0501``). Areas are either
given (one for all, or one per position on a floor) or estimated from the footprint: the floor's area
times ``USABLE_SHARE`` split evenly between the unit's flats, and the run says that they are estimates.

A building that already has dwellings is left as it is (reported), so running the command again is
harmless; every building in scope must have room for the layout (floors and units within the building's
limits), else nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from blockdata import registry
from blockdata.geometry import area_m2
from blockdata.models import Building, Compound, Dwelling, Grid

USABLE_SHARE = 0.75  # of a floor's gross area inside the flats (walls, stairs and lifts take the rest)
MIN_AREA_M2 = 15.0


@dataclass(frozen=True)
class Layout:
    """How a building's floors are divided: units (entrances), flats per unit and floor, their areas."""

    units: int | None = None          # None: the building's own number of units
    per_floor: int = 2
    floors: int | None = None         # None: the building's floors
    areas_m2: tuple[float, ...] = ()  # one for all, or one per position; empty: from the footprint

    def check(self) -> None:
        if self.units is not None and not 1 <= self.units <= 50:
            raise InvalidInput(f"--units must be 1–50, got {self.units}", record="layout")
        if not 1 <= self.per_floor <= 20:
            raise InvalidInput(f"--per-floor must be 1–20, got {self.per_floor}", record="layout")
        if self.floors is not None and not 1 <= self.floors <= 200:
            raise InvalidInput(f"--floors must be 1–200, got {self.floors}", record="layout")
        if len(self.areas_m2) not in (0, 1, self.per_floor):
            raise InvalidInput(f"--area takes one area or one per flat on a floor ({self.per_floor}), "
                               f"got {len(self.areas_m2)}", record="layout")
        if any(a < MIN_AREA_M2 or a > 2000 for a in self.areas_m2):
            raise InvalidInput(f"a dwelling's area lies in {MIN_AREA_M2:.0f}–2000 m², got {list(self.areas_m2)}",
                               record="layout")


@dataclass
class Result:
    buildings: int = 0
    dwellings: int = 0
    skipped_existing: list[str] = field(default_factory=list)
    estimated_areas: int = 0

    def summary(self) -> dict[str, object]:
        return {"buildings": self.buildings, "dwellings": self.dwellings,
                "skipped_with_dwellings": len(self.skipped_existing), "buildings_with_estimated_areas": self.estimated_areas}


def rooms_for(area: float) -> int:
    """Rooms (bedrooms) a flat of this area usually has."""
    return 1 if area < 50 else 2 if area < 80 else 3 if area < 120 else 4


def buildings_in_scope(session: Session, *, building_codes: list[str] | None = None,
                       compound_codes: list[str] | None = None, area_code: str | None = None) -> list[Building]:
    """Buildings named, or in the named compounds, or in a region/grid (code prefix); refused when none."""
    if not (building_codes or compound_codes or area_code):
        raise InvalidInput("say which buildings: --building CODE…, --compound CODE… or --area REGION_OR_GRID_CODE",
                           record="scope")
    q = select(Building).order_by(Building.code)
    if building_codes:
        q = q.where(Building.code.in_(building_codes))
    if compound_codes:
        q = q.join(Compound, Compound.id == Building.compound_id).where(Compound.code.in_(compound_codes))
    if area_code:
        from core.viewer import code_prefix

        q = q.join(Grid, Grid.id == Building.grid_id).where(Grid.code.startswith(code_prefix(area_code)))
    buildings = list(session.scalars(q))
    if building_codes:
        missing = sorted(set(building_codes) - {b.code for b in buildings})
        if missing:
            raise NotFound(f"no building {', '.join(missing[:5])}", record="--building")
    if not buildings:
        raise NotFound("no building in that scope", record="scope")
    return buildings


def _areas(building: Building, units: int, layout: Layout) -> tuple[list[float], bool]:
    """Areas per position on a floor, and whether they were estimated from the footprint."""
    if len(layout.areas_m2) == 1:
        return [layout.areas_m2[0]] * layout.per_floor, False
    if layout.areas_m2:
        return list(layout.areas_m2), False
    each = area_m2(to_shape(building.geom)) * USABLE_SHARE / (units * layout.per_floor)
    return [round(max(each, MIN_AREA_M2), 1)] * layout.per_floor, True


def generate(session: Session, buildings: list[Building], layout: Layout) -> Result:
    """Dwellings for each building without any (validated writes; the caller's transaction is all or nothing)."""
    layout.check()
    result = Result()
    has = set(session.scalars(select(Dwelling.building_id).where(Dwelling.building_id.in_([b.id for b in buildings]))
                              .group_by(Dwelling.building_id)))
    for b in buildings:
        if b.id in has:
            result.skipped_existing.append(b.code)
            continue
        floors = layout.floors or b.floors
        if floors > b.floors:
            raise InvalidInput(f"--floors {floors} is more than its {b.floors} floors", record=f"building {b.code}")
        units = layout.units or b.units
        if units != b.units:
            b.units = units  # the office's layout says how many entrances the building has
            session.flush()
        areas, estimated = _areas(b, units, layout)
        result.estimated_areas += estimated
        for unit in range(1, units + 1):
            for floor in range(1, floors + 1):
                for pos, area in enumerate(areas, start=1):
                    registry.add_dwelling(session, code=f"{b.code}-{unit}-{floor:02d}{pos:02d}", building_id=b.id,
                                          unit=unit, floor=floor, room=f"{floor}{pos:02d}", area_m2=area,
                                          rooms=rooms_for(area))
                    result.dwellings += 1
        result.buildings += 1
    return result


def dwelling_count(session: Session, building_ids: list[int]) -> int:
    return session.scalar(select(func.count()).select_from(Dwelling).where(Dwelling.building_id.in_(building_ids))) or 0
