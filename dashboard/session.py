"""Who is looking at the page. Until login lands (dashboard issue), the viewer is configured.

GRIDPULSE_DASHBOARD_JURISDICTION (default: the demo street) sets a street-office viewer; the
pages of this stage show places only, no personal data, so no person is exposed meanwhile.
"""
from __future__ import annotations

import os

from core.viewer import Role, Viewer


def current_viewer() -> Viewer:
    codes = tuple(c for c in os.environ.get("GRIDPULSE_DASHBOARD_JURISDICTION", "320106001000").split(",") if c)
    return Viewer(account_id=None, role=Role.street, jurisdiction=codes, username="wall-screen")
