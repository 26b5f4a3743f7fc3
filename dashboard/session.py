"""Who is looking at the page: the viewer of the logged-in session (dashboard/auth.py)."""
from __future__ import annotations

from core.errors import AccessDenied
from core.viewer import Viewer
from dashboard.auth import viewer_from_session


def current_viewer() -> Viewer:
    viewer = viewer_from_session()
    if viewer is None:
        raise AccessDenied("login required")
    return viewer


def viewer_or_none() -> Viewer | None:
    """For page layouts: Dash calls every layout once at start-up to validate it, outside any session."""
    return viewer_from_session()
