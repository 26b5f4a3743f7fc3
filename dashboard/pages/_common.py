"""Shared by the pages: the session's viewer with the page's role check, and the map spec of a jurisdiction."""
from __future__ import annotations

from typing import Any

from dash import html
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import settings
from core.viewer import Viewer
from dashboard.roles import may_open, refuse_page
from dashboard.session import viewer_or_none
from layers.alerts import alert_rows, alerts_layer
from layers.buildings import buildings_layer
from layers.common import deck_spec, polygon_box, view_for
from layers.compounds import compound_labels_layer, compound_outlines_layer, compound_rows, compounds_layer
from layers.gates import gate_arrows_layer, gates_layer, heatmap_layer
from layers.grids import grid_outlines_layer, grid_rows, grids_layer
from layers.key_sites import key_site_outline_rows, key_site_outlines_layer, key_site_rows, key_sites_layer

MAP_LAYERS = ["grids", "compounds", "buildings", "key_sites", "heatmap", "gate_arrows", "gates", "alerts"]


def page_viewer(path: str) -> tuple[Viewer | None, html.Div | None]:
    """(viewer, None) when the page may be shown; (None, a refusal or an empty div) otherwise."""
    viewer = viewer_or_none()
    if viewer is None:  # Dash validates layouts at start-up outside any request; real requests are guarded
        return None, html.Div()
    if not may_open(viewer, path):
        refuse_page(viewer, path)
        return None, html.Div(className="refused", id="page-refused", children="无权访问此页面")
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
        alerts_layer(alert_rows(session, viewer)),
        compound_labels_layer(compounds),  # names on top of everything
    ]
    spec = deck_spec(layers, view_for(polygon_box(grids), pitch=40), basemap_url=settings().basemap_url)
    spec["viewKey"] = "street"
    spec["grid_codes"] = [g["code"] for g in grids]
    spec["building_count"] = session.execute(
        text("SELECT count(*) FROM building b JOIN grid g ON g.id = b.grid_id WHERE g.code LIKE ANY(:p)"),
        {"p": viewer.like_patterns}).scalar_one()
    return spec
