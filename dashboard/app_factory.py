"""Builds the Dash app: multi-page (dash.page_registry), every asset served locally, debug off."""
from __future__ import annotations

from pathlib import Path

import dash
from dash import dcc, html

from core.config import PROJECT_ROOT
from dashboard import auth


def create_app() -> dash.Dash:
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(Path(__file__).parent / "pages"),
        assets_folder=str(PROJECT_ROOT / "assets"),
        serve_locally=True,
        title="GridPulse 一张图",
        update_title=None,
    )
    auth.install(app.server)
    app.layout = html.Div(
        className="shell",
        children=[
            html.Header(
                className="topbar",
                children=[
                    html.H1("GridPulse · 一张图"),
                    html.Nav(
                        [dcc.Link(page["name"], href=page["relative_path"]) for page in dash.page_registry.values()]
                        + [html.A("退出", href="/logout")]
                    ),
                ],
            ),
            dash.page_container,
        ],
    )
    return app
