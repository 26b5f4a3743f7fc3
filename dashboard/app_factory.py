"""Builds the Dash app: multi-page (dash.page_registry), every asset served locally, debug off.

deck.gl comes from ``/vendor/deck.js`` (dashboard/vendor.py, from node_modules), so no page loads
anything from outside the server. The shell's navigation is built per request from the session's
role (dashboard/roles.py).
"""
from __future__ import annotations

from pathlib import Path

import dash
from dash import dcc, html

from core.config import PROJECT_ROOT
from core.errors import AccessDenied
from dashboard import auth, observe, prefetch, vendor
from dashboard.roles import may_open


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
                    html.Nav([dcc.Link(page["name"], href=page["relative_path"]) for page in pages]
                             + [html.Span(who, className="who"), html.A("退出", href="/logout")]),
                ],
            ),
            dash.page_container,
        ],
    )


def _in_request() -> bool:
    import flask
    return flask.has_request_context()


# Pages whose map starts with the big layers from the cached routes: the browser fetches them while it loads
# the scripts, and assets/deckmap.js finds them in its cache (same URL, same CORS mode as its fetch()).
_STREET_LAYERS = ("/layers/grids.json", "/layers/grid_outlines.json", "/layers/buildings.json")
PRELOADED_LAYERS = {"/": _STREET_LAYERS, "/wall": _STREET_LAYERS}


class _App(dash.Dash):
    def interpolate_index(self, **kwargs: str) -> str:
        page = super().interpolate_index(**kwargs)
        if not _in_request():
            return page
        import flask
        urls = PRELOADED_LAYERS.get(flask.request.path, ())
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
    vendor.install(app.server, auth.viewer_from_session)

    @app.server.route("/drill/prefetch", methods=["POST"])
    def drill_prefetch():  # noqa: ANN202 - see dashboard/prefetch.py
        import flask
        viewer = auth.viewer_from_session()
        if viewer is None:
            return flask.jsonify({"error": "login required"}), 401
        search = str((flask.request.get_json(silent=True) or {}).get("search", ""))
        return ("", 204) if prefetch.start(viewer, search) else ("", 400)
    @app.server.errorhandler(AccessDenied)
    def refused(exc: AccessDenied):  # noqa: ANN202 - a callback refused on the server is a 403, not a 500
        import flask
        return flask.jsonify({"error": str(exc)}), 403

    app.layout = _shell
    return app
