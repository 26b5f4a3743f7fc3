"""Shared by the pages: the session's viewer for a layout, and the map spec of a jurisdiction.

Whether the viewer's role may open the page is not checked here: the one page guard
(dashboard/page_guard.py) has refused the request before any layout or callback runs."""
from __future__ import annotations

from typing import Any

from dash import html
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import settings
from core.viewer import Viewer
from dashboard.session import viewer_or_none
from layers.alerts import alert_rows, alerts_layer
from layers.buildings import buildings_layer
from layers.common import deck_spec, polygon_box, view_for
from layers.compounds import compound_labels_layer, compound_outlines_layer, compound_rows, compounds_layer
from layers.gates import gate_arrows_layer, gates_layer, heatmap_layer
from layers.incidents import incident_rows, incidents_layer
from layers.grids import grid_outlines_layer, grid_rows, grids_layer
from layers.key_sites import key_site_outline_rows, key_site_outlines_layer, key_site_rows, key_sites_layer
from layers import regions
from layers.viewport import MAX_SPAN_DEG

# A city or district viewer's map (layers.regions.aggregated_map): districts and streets, buildings once zoomed in.
CITY_MAP_LAYERS = ["districts", "streets", "flows", "buildings"]
BBOX_SNAP_DEG = 0.005  # the browser widens each view's box to this grid, so small pans reuse the loaded buildings

MAP_LAYERS = ["grids", "compounds", "buildings", "key_sites", "heatmap", "gate_arrows", "gates", "alerts", "incidents"]


def page_viewer() -> tuple[Viewer | None, html.Div | None]:
    """(viewer, None) in a request; (None, an empty div) when Dash validates layouts at start-up."""
    viewer = viewer_or_none()
    if viewer is None:
        return None, html.Div()
    return viewer, None


def street_map_spec(session: Session, viewer: Viewer, flows: dict[str, list[dict[str, Any]]],
                    population: dict[int, int]) -> dict[str, Any]:
    """Grids, their outlines and buildings by URL (cached, gzipped routes), the small live layers inline."""
    grids = grid_rows(session, viewer, population=population)  # for the camera; the layer loads the cached route
    sites = key_site_rows(session, viewer)
    compounds = compound_rows(session, viewer)
    layers = [
        grids_layer("/layers/grids.json"), grid_outlines_layer("/layers/grid_outlines.json"),
        compounds_layer(compounds), compound_outlines_layer(compounds),
        buildings_layer("/layers/buildings.json"),
        key_sites_layer(sites), key_site_outlines_layer(key_site_outline_rows(sites)),
        heatmap_layer(flows["heatmap"]), gate_arrows_layer(flows["gate_arrows"]),
        gates_layer(flows["gates"]),
        alerts_layer(alert_rows(session, viewer)), incidents_layer(incident_rows(session, viewer)),
        compound_labels_layer(compounds),  # names on top of everything
    ]
    spec = deck_spec(layers, view_for(polygon_box(grids), pitch=40), basemap_url=settings().basemap_url)
    spec["viewKey"] = "street"
    spec["fitBounds"] = polygon_box(grids)  # the wall fits it to its screen (assets/deckmap.js)
    spec["grid_codes"] = [g["code"] for g in grids]
    spec["building_count"] = session.execute(
        text("SELECT count(*) FROM building b JOIN grid g ON g.id = b.grid_id WHERE g.code LIKE ANY(:p)"),
        {"p": viewer.like_patterns}).scalar_one()
    return spec


def city_map_spec(session: Session, viewer: Viewer, *, focus: str | None = None) -> dict[str, Any]:
    """The aggregated map: districts (a city viewer's) and streets as choropleths from the cached routes, their
    outlines and names, the flows between streets (fetched after the first frame), and an empty buildings layer
    that assets/deckmap.js fills from ``/layers/buildings/bbox.json`` with the view's box once zoomed in past
    ``regions.BUILDING_ZOOM``. ``focus``: a region code prefix the camera fits instead of the whole jurisdiction."""
    city = viewer.scope == "city"
    streets = regions.region_shapes(session, viewer, "street")
    districts = regions.region_shapes(session, viewer, "district")
    in_focus = [s for s in streets if focus is None or s["prefix"].startswith(focus) or focus.startswith(s["prefix"])]
    box = polygon_box([{"polygon": polygon} for s in (in_focus or streets) for polygon in s["polygons"]])
    labels = {lvl: [{"code": s["code"], "name": s["name"], "centre": s["centre"]} for s in rows]
              for lvl, rows in (("district", districts), ("street", streets))}
    layers = []
    if city:
        layers.append(regions.regions_layer("district", "/layers/districts.json"))
    layers += [
        regions.regions_layer("street", "/layers/streets.json"),
        regions.region_outlines_layer("street", "/layers/street_outlines.json"),
        regions.region_outlines_layer("district", "/layers/district_outlines.json"),
        buildings_layer([]),
        regions.flows_layer([]),
        regions.region_labels_layer("street", labels["street"]),
    ]
    if city:
        layers.append(regions.region_labels_layer("district", labels["district"]))
    spec = deck_spec(layers, view_for(box, pitch=40 if focus is None else 45), basemap_url=settings().basemap_url)
    low, top = (0.0, regions.STREET_ZOOM), (regions.STREET_ZOOM, 99.0)
    spec["zoomRanges"] = {"districts": low, "districts_label": low,
                          "streets": (low[1] if city else 0.0, regions.BUILDING_ZOOM),
                          "streets_label": top if city else (0.0, 99.0), "flows": (0.0, regions.BUILDING_ZOOM)}
    spec["bboxLayers"] = {"buildings": {"url": "/layers/buildings/bbox.json", "minZoom": regions.BUILDING_ZOOM,
                                        "maxSpan": MAX_SPAN_DEG, "snap": BBOX_SNAP_DEG, "fill": "occupancy"}}
    spec["deferred"] = {"flows": "/layers/flows.json"}
    spec["viewKey"] = f"city:{focus or ''}"
    spec["fitBounds"] = box
    spec["scope"] = viewer.scope
    counts = session.execute(text(
        """SELECT (SELECT count(*) FROM grid g WHERE g.code LIKE ANY(:p)),
                  (SELECT count(*) FROM building b JOIN grid g ON g.id = b.grid_id WHERE g.code LIKE ANY(:p))"""),
        {"p": viewer.like_patterns}).one()
    spec["grid_count"], spec["building_count"] = int(counts[0]), int(counts[1])
    spec["region_counts"] = {"district": len(districts), "street": len(streets)}
    return spec
