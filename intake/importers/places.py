"""Importers of regions, grids, compounds, key sites and gates, one validated registry write per row.

These layers are small (tens to thousands of features), so each row goes through the registry's
writers, which check everything and translate database refusals into typed errors; each write runs
in its own savepoint, so a refused row is reported and the rest are still checked.
"""
from __future__ import annotations

from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select, text

from core.errors import NotFound
from blockdata import registry
from intake.importers.context import Context, as_int, place_code
from intake.importers.geometry_checks import checked, representative
from intake.importers.readers import Feature, FeatureFile, first
from intake.importers.report import WARNING
from blockdata.models import SRID, Compound, GateKind, KeySite, KeySiteCategory, Region, RegionLevel

_LEVEL_ORDER = [RegionLevel.city, RegionLevel.district, RegionLevel.street, RegionLevel.community]
_LEVEL_NAMES = {
    "city": RegionLevel.city, "市": RegionLevel.city, "district": RegionLevel.district, "区": RegionLevel.district,
    "县": RegionLevel.district, "street": RegionLevel.street, "街道": RegionLevel.street, "镇": RegionLevel.street,
    "community": RegionLevel.community, "社区": RegionLevel.community, "村": RegionLevel.community,
}


def region_code(value: Any) -> str | None:
    """6-digit adcodes and 9-digit street codes padded to the 12-digit form (6 + 3 + 3)."""
    if value is None:
        return None
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
    if text.isdigit() and len(text) in (6, 9):
        return text + "0" * (12 - len(text))
    return text


def level_of(code: str) -> RegionLevel:
    if code[9:] != "000":
        return RegionLevel.community
    if code[6:9] != "000":
        return RegionLevel.street
    if code[4:6] != "00":
        return RegionLevel.district
    return RegionLevel.city


def parent_of(code: str, level: RegionLevel) -> str | None:
    return {
        RegionLevel.city: None,
        RegionLevel.district: code[:4] + "00000000",
        RegionLevel.street: code[:6] + "000000",
        RegionLevel.community: code[:9] + "000",
    }[level]


def _seen(ctx: Context, seen: dict[str, int], code: str, row: int, record: str) -> bool:
    """Refuse a code met earlier in the same file (the database check covers earlier imports)."""
    if code in seen:
        ctx.report.reject(row, record, "code", f"duplicate: the same code is on row {seen[code]} of this file")
        return True
    seen[code] = row
    return False


def _geometry(ctx: Context, f: Feature, kinds: tuple[str, ...], record: str) -> Any:
    if f.error:
        ctx.report.reject(f.row, record, "geometry", f.error)
        return None
    return checked(f.geom, kinds=kinds, src=ctx.crs, row=f.row, record=record, report=ctx.report)


def import_regions(ctx: Context, source: FeatureFile) -> int:
    rows: list[tuple[RegionLevel, Feature, str]] = []
    for f in source.features:
        code = region_code(first(f.props, "code", "adcode", "区划代码", "编码", "id"))
        if f.error:  # said first: an unclosed ring is the news, whatever else is wrong with the row
            ctx.report.reject(f.row, f"region {code or first(f.props, 'name') or f.row}", "geometry", f.error)
            continue
        if not code:
            ctx.report.reject(f.row, f"row {f.row}", "code", "no region code (columns code or adcode)")
            continue
        if not (code.isdigit() and len(code) == 12):
            digits = f"{len(code)} digits" if code.isdigit() else "characters other than digits"
            ctx.report.reject(f.row, f"region {code}", "code",
                              f"code {code} has {digits}: a region code has 6 (district), 9 (street) or 12 (community) "
                              "digits; correct it in the file")
            continue
        named = str(first(f.props, "level", "级别") or "").strip().lower()
        level = _LEVEL_NAMES.get(named, level_of(code))
        if level is not level_of(code):
            ctx.report.reject(f.row, f"region {code}", "level", f"level {named!r} does not fit code {code} ({level_of(code).value})")
            continue
        rows.append((level, f, code))
    rows.sort(key=lambda r: _LEVEL_ORDER.index(r[0]))  # parents before children, whatever the file order
    seen: dict[str, int] = {}
    written = 0
    for i, (level, f, code) in enumerate(rows, start=1):
        record = f"region {code}"
        if _seen(ctx, seen, code, f.row, record):
            continue
        geom = location = None
        if f.geom is not None and f.geom.geom_type == "Point":  # a point row: the region's location, no polygon
            location = _geometry(ctx, f, ("Point",), record)
            if location is None:
                continue
        elif f.geom is not None or f.error:
            geom = _geometry(ctx, f, ("Polygon", "MultiPolygon"), record)
            if geom is None:
                continue
        name = str(first(f.props, "name", "名称") or code)[:64]
        parent = parent_of(code, level)
        _name_clash(ctx, f.row, record, code, name, level, parent)
        existing = ctx.session.get(Region, code)
        if existing is not None:
            written += _existing_region(ctx, f.row, record, existing, name, geom, location)
            continue
        with ctx.row(f.row, record):
            registry.add_region(ctx.session, code=code, name=name, level=level, parent_code=parent, geom=geom,
                                location=location)
            written += 1
        ctx.tick(i, len(rows))
    return written


def _name_clash(ctx: Context, row: int, record: str, code: str, name: str, level: RegionLevel, parent: str | None) -> None:
    """The same name under another code beside it: two vintages of the official codes (e.g. 2016 vs 2022)."""
    other = ctx.session.scalar(select(Region.code).where(
        Region.name == name, Region.level == level, Region.code != code,
        Region.parent_code.is_(None) if parent is None else Region.parent_code == parent))
    if other:
        ctx.report.add(row, record, "name", WARNING,
                       f"{name} is region {other} in the database and {code} in this file: two vintages of the official "
                       "codes? check which one is current before assigning people or grids")


def _existing_region(ctx: Context, row: int, record: str, region: Region, name: str, geom: Any,
                     location: Any = None) -> int:
    """A code already there: refused in insert mode; in upsert mode renamed or reshaped (and said), else unchanged."""
    clash = region.name != name
    if ctx.options.mode != "upsert":
        why = f" (the database calls it {region.name}, this file {name}: two vintages of the official codes?)" if clash else ""
        ctx.report.reject(row, record, "code", f"duplicate: region {region.code} is already in the database{why}; "
                                               "--mode upsert updates it")
        return 0
    changed = 0
    if clash:
        ctx.report.add(row, record, "name", WARNING, f"renamed from {region.name} to {name} (two vintages of the "
                                                     "official codes?)")
        region.name = name
        changed = 1
    if geom is not None:
        from blockdata.geometry import validated
        shape_ = validated(geom, kinds=("Polygon", "MultiPolygon"), record=record)
        shape_ = MultiPolygon([shape_]) if shape_.geom_type == "Polygon" else shape_
        region.geom = from_shape(shape_, srid=SRID)
        changed = 1
    if location is not None:
        from geoalchemy2.shape import to_shape

        if region.location is None or not to_shape(region.location).equals_exact(location, 1e-9):
            region.location = from_shape(location, srid=SRID)
            changed = 1
    ctx.count("unchanged" if not changed else "updated")
    ctx.session.flush()
    return changed


def import_grids(ctx: Context, source: FeatureFile) -> int:
    seen: dict[str, int] = {}
    written = 0
    for i, f in enumerate(source.features, start=1):
        code = str(first(f.props, "code", "grid_code", "网格编码") or "").strip()
        community = region_code(first(f.props, "community_code", "社区编码"))
        sequence = str(first(f.props, "sequence", "seq") or "").strip()
        if len(code) == 15 and code.isdigit():
            community, sequence = code[:12], code[12:]
        elif community and sequence.isdigit():
            sequence = sequence.zfill(3)
        else:
            got = f"code {code} has {len(code)} characters" if code else "no code"
            ctx.report.reject(f.row, f"row {f.row}", "code",
                              f"{got}: a grid needs a 15-digit code (12-digit community + 3-digit sequence) or the "
                              "columns community_code and sequence")
            continue
        record = f"grid {community}{sequence}"
        if _seen(ctx, seen, community + sequence, f.row, record):
            continue
        geom = _geometry(ctx, f, ("Polygon",), record)
        if geom is None:
            continue
        name = str(first(f.props, "name", "名称") or community + sequence)
        with ctx.row(f.row, record):
            registry.add_grid(ctx.session, community_code=community, sequence=sequence, name=name[:64], geom=geom)
            written += 1
        ctx.tick(i, len(source.features))
    return written


def _community_at(ctx: Context, geom: Any) -> str | None:
    p = representative(geom)
    grid = registry.grid_containing(ctx.session, p.x, p.y)
    return grid.community_code if grid else None


SPAN_SHARE = 0.10  # a compound with at least this share of its area in a second community is reported


def communities_under(ctx: Context, geom: Any) -> list[tuple[str, float]]:
    """The communities whose grids a polygon overlaps, with the share of its area in each, largest first."""
    rows = ctx.session.execute(text(
        "SELECT g.community_code, sum(ST_Area(ST_Intersection(g.geom, x.geom)::geography)) / "
        "       greatest(ST_Area(x.geom::geography), 1e-9) AS share "
        "FROM grid g, (SELECT ST_GeomFromEWKT(:g) AS geom) x WHERE ST_Intersects(g.geom, x.geom) "
        "GROUP BY g.community_code, x.geom ORDER BY share DESC"), {"g": f"SRID={SRID};{geom.wkt}"}).all()
    return [(r[0], float(r[1])) for r in rows if r[1] > 0]


def _outside(ctx: Context, f: Feature, record: str, geom: Any) -> bool:
    """An OSM feature outside the map already there is skipped with a line; any other file's is for the caller."""
    if ctx.osm and ctx.reference is not None and not ctx.reference.covers(geom):
        ctx.skip(f.row, record, "geometry", f"outside the jurisdiction (the {ctx.reference.layer} on the map): not imported")
        return True
    return False


def _osm_shape(ctx: Context, f: Feature, record: str) -> bool:
    """An OSM multipolygon of several parts is not one compound or site: skipped with a line (never guessed)."""
    if ctx.osm and f.geom is not None and f.geom.geom_type == "MultiPolygon" and len(f.geom.geoms) > 1:
        ctx.skip(f.row, record, "geometry", f"a multipolygon of {len(f.geom.geoms)} parts: not imported (draw it as "
                                            "one polygon per compound)")
        return True
    return False


def _community_of_compound(ctx: Context, f: Feature, record: str, geom: Any) -> str | None:
    given = region_code(first(f.props, "community_code", "社区编码"))
    if given:
        return given
    under = communities_under(ctx, geom)
    if not under:
        if ctx.osm:
            ctx.skip(f.row, record, "geometry", "lies in no grid: not imported (generate or import the grids first)")
        else:
            ctx.report.reject(f.row, record, "community_code", "no community_code, and the compound lies in no known grid")
        return None
    if len(under) > 1 and under[1][1] >= SPAN_SHARE:
        shares = ", ".join(f"{c} {share:.0%}" for c, share in under)
        ctx.report.add(f.row, record, "community_code", WARNING,
                       f"spans grids of {len(under)} communities ({shares}): placed in {under[0][0]}, the largest share; "
                       "give community_code to choose, or redraw the grids")
        ctx.count("compounds_spanning_communities")
    return under[0][0]


def import_compounds(ctx: Context, source: FeatureFile) -> int:
    seen: dict[str, int] = {}
    written = 0
    for i, f in enumerate(source.features, start=1):
        code = place_code(first(f.props, "code", "id", "osm_id", "编码"))
        record = f"compound {code or f'row {f.row}'}"
        if not code:
            ctx.report.reject(f.row, record, "code", "no compound code (columns code, id or osm_id)")
            continue
        if _seen(ctx, seen, code, f.row, record) or _osm_shape(ctx, f, record):
            continue
        geom = _geometry(ctx, f, ("Polygon",), record)
        if geom is None or _outside(ctx, f, record, geom):
            continue
        community = _community_of_compound(ctx, f, record, geom)
        if community is None:
            continue
        name = first(f.props, "name", "名称")
        if not name:
            ctx.report.add(f.row, record, "name", WARNING, f"no name: named {code} until someone names it")
            ctx.count("compounds_unnamed")
        name = str(name or code)[:64]
        existing = ctx.session.scalar(select(Compound).where(Compound.code == code))
        if existing is not None and ctx.options.mode != "upsert":
            ctx.report.reject(f.row, record, "code", "duplicate: a compound with this code is already in the database "
                                                     "(--mode upsert updates it)")
            continue
        with ctx.row(f.row, record):
            if existing is not None and ctx.options.mode == "upsert":
                written += _update(ctx, existing, name=name, community_code=community, geom=geom)
            else:
                registry.add_compound(ctx.session, code=code, name=name, community_code=community, geom=geom)
                written += 1
        ctx.tick(i, len(source.features))
    return written


def _update(ctx: Context, obj: Any, **values: Any) -> int:
    """Upsert of an existing place: set what differs (geometry compared as WKB), 1 if anything changed."""
    from geoalchemy2.shape import to_shape

    changed = False
    for key, value in values.items():
        if key == "geom":
            if to_shape(obj.geom).equals_exact(value, 1e-9):
                continue
            value = from_shape(value, srid=SRID)
        elif getattr(obj, key) == value:
            continue
        setattr(obj, key, value)
        changed = True
    ctx.count("updated" if changed else "unchanged")
    ctx.session.flush()
    return int(changed)


_CATEGORY = {
    "school": KeySiteCategory.school, "kindergarten": KeySiteCategory.school, "university": KeySiteCategory.school,
    "college": KeySiteCategory.school, "学校": KeySiteCategory.school, "幼儿园": KeySiteCategory.school,
    "hospital": KeySiteCategory.hospital, "clinic": KeySiteCategory.hospital, "医院": KeySiteCategory.hospital,
    "station": KeySiteCategory.station, "车站": KeySiteCategory.station, "地铁站": KeySiteCategory.station,
    "market": KeySiteCategory.market, "marketplace": KeySiteCategory.market, "supermarket": KeySiteCategory.market,
    "市场": KeySiteCategory.market, "菜市场": KeySiteCategory.market, "mall": KeySiteCategory.mall,
    "商场": KeySiteCategory.mall, "park": KeySiteCategory.park, "公园": KeySiteCategory.park,
    "government": KeySiteCategory.government, "townhall": KeySiteCategory.government, "政府": KeySiteCategory.government,
}


def _category(props: dict[str, Any]) -> KeySiteCategory | None:
    for key in ("category", "类别", "amenity", "shop", "railway", "public_transport", "leisure"):
        value = props.get(key)
        if value and str(value).strip().lower() in _CATEGORY:
            return _CATEGORY[str(value).strip().lower()]
    return None


def _circle(point: Any, radius_m: float) -> Any:
    """A circle of ``radius_m`` metres around a WGS84 point (degrees of longitude shrink with latitude)."""
    import math

    from shapely import affinity

    deg_lat = radius_m / 111_320.0
    return affinity.scale(point.buffer(deg_lat, 32), xfact=1.0 / math.cos(math.radians(point.y)), yfact=1.0)


def import_key_sites(ctx: Context, source: FeatureFile) -> int:
    from intake.importers.osm import SITE_RADIUS_M

    seen: dict[str, int] = {}
    written = 0
    for i, f in enumerate(source.features, start=1):
        code = place_code(first(f.props, "code", "id", "osm_id", "编码"))
        record = f"key site {code or f'row {f.row}'}"
        if not code:
            ctx.report.reject(f.row, record, "code", "no key-site code (columns code, id or osm_id)")
            continue
        if _seen(ctx, seen, code, f.row, record) or _osm_shape(ctx, f, record):
            continue
        category = _category(f.props)
        if category is None:
            ctx.report.reject(f.row, record, "category",
                              f"unknown category {first(f.props, 'category', 'amenity', 'shop') !r}: use one of "
                              + ", ".join(c.value for c in KeySiteCategory))
            continue
        geom = _geometry(ctx, f, ("Polygon", "Point"), record)
        if geom is None or _outside(ctx, f, record, geom):
            continue
        if geom.geom_type == "Point":
            geom = _circle(geom, SITE_RADIUS_M[category])
            ctx.report.add(f.row, record, "geometry", WARNING,
                           f"mapped as a point: a circle of {SITE_RADIUS_M[category]:.0f} m ({category.value}) stands for it")
            ctx.count("sites_from_points")
        capacity = as_int(first(f.props, "capacity", "容量"))
        p = representative(geom)
        grid = registry.grid_containing(ctx.session, p.x, p.y)
        if grid is None:
            ctx.report.add(f.row, record, "geometry", WARNING, "lies in no grid: stored without a grid")
        name = str(first(f.props, "name", "名称") or code)
        existing = ctx.session.scalar(select(KeySite).where(KeySite.code == code))
        if existing is not None and ctx.options.mode != "upsert":
            ctx.report.reject(f.row, record, "code", "duplicate: a key site with this code is already in the database "
                                                     "(--mode upsert updates it)")
            continue
        with ctx.row(f.row, record):
            if existing is not None and ctx.options.mode == "upsert":
                written += _update(ctx, existing, name=name[:64], category=category, geom=geom,
                                   grid_id=grid.id if grid else None, capacity=capacity)
            else:
                registry.add_key_site(ctx.session, code=code, name=name, category=category, geom=geom,
                                      grid_id=grid.id if grid else None, capacity=capacity)
                written += 1
        ctx.tick(i, len(source.features))
    return written


_GATE_KIND = {"pedestrian": GateKind.pedestrian, "人行": GateKind.pedestrian, "vehicle": GateKind.vehicle,
              "车行": GateKind.vehicle, "counter": GateKind.counter, "计数": GateKind.counter}
GATE_SNAP_M = 50.0  # a gate without an owner code is given the compound whose boundary lies within this


def _owner_near(ctx: Context, geom: Any) -> int | None:
    point = f"SRID={SRID};{geom.wkt}"
    dist = func.ST_Distance(func.geography(Compound.geom), func.geography(func.ST_GeomFromEWKT(point)))
    row = ctx.session.execute(select(Compound.id, dist).order_by(dist).limit(1)).first()
    return row[0] if row and row[1] <= GATE_SNAP_M else None


def import_gates(ctx: Context, source: FeatureFile) -> int:
    seen: dict[str, int] = {}
    written = 0
    for i, f in enumerate(source.features, start=1):
        code = place_code(first(f.props, "code", "id", "osm_id", "编码"))
        record = f"gate {code or f'row {f.row}'}"
        if not code:
            ctx.report.reject(f.row, record, "code", "no gate code")
            continue
        if _seen(ctx, seen, code, f.row, record):
            continue
        kind_text = str(first(f.props, "kind", "类型") or "pedestrian").strip().lower()
        if kind_text not in _GATE_KIND:
            ctx.report.reject(f.row, record, "kind", f"unknown gate kind {kind_text!r}: pedestrian, vehicle or counter")
            continue
        geom = _geometry(ctx, f, ("Point",), record)
        if geom is None:
            continue
        compound_code = first(f.props, "compound_code", "小区编码")
        site_code = first(f.props, "key_site_code", "场所编码")
        with ctx.row(f.row, record):
            compound_id = site_id = None
            if compound_code:
                compound_id = ctx.session.scalar(select(Compound.id).where(Compound.code == str(compound_code)))
                if compound_id is None:
                    raise NotFound(f"unknown compound code {compound_code}", record=record)
            elif site_code:
                site_id = ctx.session.scalar(select(KeySite.id).where(KeySite.code == str(site_code)))
                if site_id is None:
                    raise NotFound(f"unknown key-site code {site_code}", record=record)
            else:
                compound_id = _owner_near(ctx, geom)
                if compound_id is None:
                    raise NotFound(f"no compound_code and no compound within {GATE_SNAP_M:.0f} m", record=record)
            registry.add_gate(ctx.session, code=code, name=str(first(f.props, "name", "名称") or code)[:64],
                              kind=_GATE_KIND[kind_text], geom=geom, compound_id=compound_id, key_site_id=site_id)
            written += 1
        ctx.tick(i, len(source.features))
    return written


def region_exists(ctx: Context, code: str) -> bool:
    return ctx.session.get(Region, code) is not None
