"""The main job: serve the GridPulse app on http://127.0.0.1:8050 (`python app.py`)."""
from __future__ import annotations

from core.config import settings
from dashboard.app_factory import create_app

app = create_app()
server = app.server

if __name__ == "__main__":
    cfg = settings()
    # debug=False: Dash's debug mode loads dev tools and calls home, which the wall screens must not.
    app.run(host=cfg.host, port=cfg.port, debug=False)
