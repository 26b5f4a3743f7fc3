"""OpenStreetMap exports as a street office gets them: take only what belongs to the kind being imported.

An overpass-turbo export (feature ``id`` such as ``way/123`` plus every tag) or a Geofabrik shapefile
(``osm_id``, ``code``, ``fclass``, ``name``) holds roads, POIs, land use and buildings together. Fed
as they are to an importer, every road would be a "building without floors" and every bench a
"key site of unknown category". Here each feature is either kept for the kind, with its properties
rewritten to the importer's columns (OSM id → code, tags → name, floors, category), or counted as
not belonging to it, by reason, so the report says what was left out and why.

What belongs to which kind:

* buildings: ``building=*`` (not ``building=no``) drawn as a polygon; floors from ``building:levels``
  or ``height``, else ``OSM_DEFAULT_FLOORS`` (each such building is a warning line and counted).
* compounds: ``landuse=residential`` polygons (Geofabrik ``fclass=residential``), and named polygons
  that are nothing else (no building, shop, leisure …) tagged ``place=neighbourhood`` or
  ``residential=*`` or named like a compound (…小区, …新村, …花园, …苑 …).
* key sites: ``amenity``/``shop``/``railway``/``public_transport`` (and ``leisure=park``) whose value
  maps onto a key-site category; a point becomes a circle of ``SITE_RADIUS_M[category]``.

The Geofabrik ``code`` column is OSM's class number (7202 = park), not an identifier: the OSM id is
the code then. A file's own ``code`` column is used only when it is not that class number.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from blockdata.models import KeySiteCategory
from intake.importers.context import place_code
from intake.importers.readers import Feature, FeatureFile

OVERPASS = "overpass"
GEOFABRIK = "geofabrik"
OSM_KINDS = ("buildings", "compounds", "key_sites")

OSM_DEFAULT_FLOORS = 6
"""Floors of an OSM building without ``building:levels`` or ``height``: 7 of 371 buildings in the Nanjing
export carry levels, so most buildings take this value, a typical walk-up residential block (5–7 floors)."""

SITE_RADIUS_M: dict[KeySiteCategory, float] = {
    KeySiteCategory.school: 80.0,      # a school's grounds around its mapped node
    KeySiteCategory.hospital: 60.0,
    KeySiteCategory.station: 50.0,     # a metro station's concourse and entrances
    KeySiteCategory.market: 30.0,      # a supermarket or wet market hall
    KeySiteCategory.mall: 60.0,
    KeySiteCategory.park: 100.0,
    KeySiteCategory.government: 40.0,
}
"""Radius of the circle a key site mapped as a point becomes (documented in docs/IMPORT.md)."""

_OSM_ID = re.compile(r"^(node|way|relation)/\d+$")
_COMPOUND_NAME = re.compile(r"(小区|新村|花园|家园|公寓|新寓|苑|庭|府|公馆|山庄|大院|宿舍|里|坊|城|居)(（.*）|\(.*\))?$")
_NOT_A_COMPOUND = ("building", "shop", "amenity", "leisure", "tourism", "natural", "highway", "power", "railway",
                   "historic", "waterway", "man_made", "office")

_SITE_TAGS: dict[tuple[str, str], KeySiteCategory] = {
    ("amenity", "school"): KeySiteCategory.school, ("amenity", "kindergarten"): KeySiteCategory.school,
    ("amenity", "university"): KeySiteCategory.school, ("amenity", "college"): KeySiteCategory.school,
    ("amenity", "hospital"): KeySiteCategory.hospital, ("amenity", "clinic"): KeySiteCategory.hospital,
    ("amenity", "marketplace"): KeySiteCategory.market, ("amenity", "townhall"): KeySiteCategory.government,
    ("amenity", "bus_station"): KeySiteCategory.station,
    ("shop", "supermarket"): KeySiteCategory.market, ("shop", "mall"): KeySiteCategory.mall,
    ("shop", "department_store"): KeySiteCategory.mall,
    ("railway", "station"): KeySiteCategory.station, ("railway", "halt"): KeySiteCategory.station,
    ("public_transport", "station"): KeySiteCategory.station, ("leisure", "park"): KeySiteCategory.park,
}
_SITE_KEYS = ("amenity", "shop", "railway", "public_transport", "leisure")
# Geofabrik's fclass values (gis_osm_pois, gis_osm_transport, gis_osm_landuse) that are key sites.
_SITE_FCLASS: dict[str, KeySiteCategory] = {
    "school": KeySiteCategory.school, "kindergarten": KeySiteCategory.school, "university": KeySiteCategory.school,
    "college": KeySiteCategory.school, "hospital": KeySiteCategory.hospital, "clinic": KeySiteCategory.hospital,
    "marketplace": KeySiteCategory.market, "supermarket": KeySiteCategory.market, "mall": KeySiteCategory.mall,
    "department_store": KeySiteCategory.mall, "town_hall": KeySiteCategory.government,
    "railway_station": KeySiteCategory.station, "bus_station": KeySiteCategory.station, "park": KeySiteCategory.park,
}


@dataclass
class Selection:
    """The features kept for a kind (properties rewritten) and how many were left out, by reason."""

    flavour: str
    kept: list[Feature] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)


def detect(source: FeatureFile) -> str | None:
    """``overpass`` or ``geofabrik`` when the file is an OSM export, else None."""
    props = [f.props for f in source.features[:200]]
    if not props:
        return None
    if all("osm_id" in p and "fclass" in p for p in props):
        return GEOFABRIK
    with_ids = sum(1 for p in props if _OSM_ID.match(str(p.get("id") or p.get("@id") or "")))
    return OVERPASS if with_ids * 2 > len(props) else None  # most features carry an OSM id


def _own_code(props: dict[str, Any], flavour: str) -> str | None:
    """The file's own code column, unless it is Geofabrik's class number."""
    code = props.get("code") or props.get("编码")
    if code in (None, ""):
        return None
    if flavour == GEOFABRIK and str(code).isdigit() and len(str(code)) == 4:
        return None
    return str(code).strip()


def _code(props: dict[str, Any], flavour: str) -> str | None:
    own = _own_code(props, flavour)
    if own:
        return own
    return place_code(props.get("id") or props.get("@id") or props.get("osm_id"))


def _is_polygon(f: Feature) -> bool:
    return f.geom is not None and f.geom.geom_type in ("Polygon", "MultiPolygon")


def _tag(props: dict[str, Any], key: str) -> str:
    return str(props.get(key) or "").strip().lower()


def _building(f: Feature, flavour: str) -> tuple[dict[str, Any] | None, str]:
    p = f.props
    if flavour == GEOFABRIK:
        is_building = "type" in p and "fclass" in p and _tag(p, "fclass") == "building"
    else:
        is_building = _tag(p, "building") not in ("", "no")
    if not is_building:
        return None, "not tagged building=*"
    if f.error is None and not _is_polygon(f):
        return None, "a building drawn as a point or line has no footprint"
    out = {"code": _code(p, flavour), "name": p.get("name")}
    for key in ("building:levels", "height"):
        if p.get(key) not in (None, ""):
            out[key] = p[key]
    return out, ""


def _compound(f: Feature, flavour: str) -> tuple[dict[str, Any] | None, str]:
    p = f.props
    if flavour == GEOFABRIK:
        residential = _tag(p, "fclass") == "residential"
    else:
        residential = _tag(p, "landuse") == "residential"
        named = str(p.get("name") or "").strip()
        if not residential and named and not p.get("landuse") and not any(p.get(k) for k in _NOT_A_COMPOUND):
            residential = bool(p.get("place") == "neighbourhood" or p.get("residential") or _COMPOUND_NAME.search(named))
    if not residential:
        return None, "not landuse=residential nor a named compound"
    if f.error is None and not _is_polygon(f):
        return None, "a compound drawn as a point or line has no outline"
    return {"code": _code(p, flavour), "name": p.get("name")}, ""


def site_category(props: dict[str, Any], flavour: str) -> tuple[KeySiteCategory | None, str]:
    """The key-site category of an OSM feature, or None and the tag that is not one (e.g. ``amenity=bank``)."""
    if flavour == GEOFABRIK:
        fclass = _tag(props, "fclass")
        return _SITE_FCLASS.get(fclass), f"fclass={fclass}"
    seen = ""
    for key in _SITE_KEYS:
        value = _tag(props, key)
        if value:
            if (key, value) in _SITE_TAGS:
                return _SITE_TAGS[(key, value)], ""
            seen = seen or f"{key}={value}"
    return None, seen


def _key_site(f: Feature, flavour: str) -> tuple[dict[str, Any] | None, str]:
    category, tag = site_category(f.props, flavour)
    if category is None:
        return None, f"{tag} is not a key-site category" if tag else "no amenity/shop/railway/public_transport tag"
    if f.geom is not None and f.geom.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        return None, "a key site drawn as a line (a route or track) has no place"
    return {"code": _code(f.props, flavour), "name": f.props.get("name"), "category": category.value}, ""


_PICKERS = {"buildings": _building, "compounds": _compound, "key_sites": _key_site}


def select(kind: str, source: FeatureFile, flavour: str) -> Selection:
    """The features of ``source`` that belong to ``kind``, with importer columns; the rest counted by reason."""
    pick = _PICKERS[kind]
    out = Selection(flavour=flavour)
    for f in source.features:
        props, why = pick(f, flavour)
        if props is None:
            out.left_out[why] += 1
            continue
        out.kept.append(Feature(row=f.row, props=props, geom=f.geom, error=f.error))
    return out
