"""Builds the Dash app: multi-page (dash.page_registry), every asset served locally, debug off.

deck.gl comes from ``/vendor/deck.js`` (dashboard/vendor.py, from node_modules), so no page loads
anything from outside the server. The shell's navigation is built per request from the session's
role and the roles each page declares in ``register_page`` (dashboard/roles.py); dashboard/auth.py
guards every request (session, CSRF, then the one page guard) and dashboard/headers.py sets CSP,
framing and caching headers on every answer.
"""
from __future__ import annotations

from pathlib import Path

import dash
from dash import dcc, html

from core.config import PROJECT_ROOT
from core.errors import AccessDenied
from blockdata.db import transaction
from dashboard import auth, headers, https, observe, prefetch, vendor, viewport_routes
from dashboard.search_box import search_box
from dashboard.roles import may_open
from intake import upload_store
from layers.regions import aggregated_map


def _shell() -> html.Div:
    viewer = auth.viewer_from_session() if _in_request() else None
    pages = [p for p in dash.page_registry.values() if viewer is not None and may_open(viewer, p["path"])]
    who = f"{viewer.username}" if viewer else ""
    return html.Div(
        className="shell",
        children=[
            html.Header(
                className="topbar",
                children=[
                    html.H1("GridPulse · 一张图"),
                    search_box() if viewer is not None else None,
                    html.Nav([dcc.Link(page["name"], href=page["relative_path"]) for page in pages]
                             + [html.Span(who, className="who"), _logout_form()]),
                ],
            ),
            dash.page_container,
        ],
    )


def _logout_form() -> html.Form:
    """Logout is a POST carrying the session's CSRF token: a link or an image elsewhere cannot end it."""
    return html.Form(method="POST", action="/logout", className="logout", children=[
        dcc.Input(type="hidden", name="csrf", value=auth.csrf_token()),
        html.Button("退出", type="submit", id="logout", className="logout-button"),
    ])


def _in_request() -> bool:
    import flask
    return flask.has_request_context()


# Pages whose map starts with the big layers from the cached routes: the browser fetches them while it loads
# the scripts, and assets/deckmap.js finds them in its cache (same URL, same CORS mode as its fetch()).
_STREET_LAYERS = ("/layers/grids.json", "/layers/grid_outlines.json", "/layers/buildings.json")
PRELOADED_LAYERS = {"/": _STREET_LAYERS, "/wall": _STREET_LAYERS}
# A city or district viewer's map starts aggregated (dashboard/pages/_common.city_map_spec): no grid or building.
_CITY_LAYERS = ("/layers/streets.json", "/layers/street_outlines.json", "/layers/district_outlines.json")
PRELOADED_CITY_LAYERS = {"/": _CITY_LAYERS, "/wall": _CITY_LAYERS}


def _preloads(path: str) -> tuple[str, ...]:
    viewer = auth.viewer_from_session()
    if viewer is None:
        return ()
    with transaction() as session:
        aggregated = aggregated_map(session, viewer)
    if aggregated:
        urls = PRELOADED_CITY_LAYERS.get(path, ())
        return ("/layers/districts.json",) + urls if urls and viewer.scope == "city" else urls
    return PRELOADED_LAYERS.get(path, ())


class _App(dash.Dash):
    def interpolate_index(self, **kwargs: str) -> str:
        page = super().interpolate_index(**kwargs)
        if not _in_request():
            return page
        import flask
        urls = _preloads(flask.request.path)
        links = "".join(f'<link rel="preload" href="{u}" as="fetch" crossorigin="anonymous">' for u in urls)
        return page.replace("</head>", links + "</head>", 1) if links else page


def create_app() -> dash.Dash:
    app = _App(
        __name__,
        use_pages=True,
        pages_folder=str(Path(__file__).parent / "pages"),
        assets_folder=str(PROJECT_ROOT / "assets"),
        serve_locally=True,
        external_scripts=["/vendor/deck.js"],
        suppress_callback_exceptions=True,
        title="GridPulse 一张图",
        update_title=None,
    )
    observe.install(app.server)  # /metrics and /healthz answer before the login guard
    auth.install(app.server)
    https.install(app.server)  # cookies Secure over HTTPS (behind the TLS proxy)
    headers.install(app)
    upload_store.start_sweeper()  # imports dry-run but not applied are deleted after GRIDPULSE_IMPORT_KEEP_MINUTES
    vendor.install(app.server, auth.viewer_from_session)
    viewport_routes.install(app.server, auth.viewer_from_session)

    @app.server.route("/drill/prefetch", methods=["POST"])
    def drill_prefetch():  # noqa: ANN202 - see dashboard/prefetch.py
        import flask
        viewer = auth.viewer_from_session()  # the guard (dashboard/auth.py) let only a session with /drill through
        search = str((flask.request.get_json(silent=True) or {}).get("search", ""))
        return ("", 204) if prefetch.start(viewer, search) else ("", 400)

    @app.server.errorhandler(AccessDenied)
    def refused(exc: AccessDenied):  # noqa: ANN202 - a callback refused on the server is a 403, not a 500
        import flask
        return flask.jsonify({"error": str(exc)}), 403

    app.layout = _shell
    return app
