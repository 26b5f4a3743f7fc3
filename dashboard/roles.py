"""The roles' names, and which role may open which page. The issue's role names map onto the database's:
command_centre → ``street``, grid_supervisor → ``supervisor``, grid_worker → ``worker``
(``police`` and ``admin`` are the same).

A page declares who may open it once, in its ``dash.register_page(..., roles=...)`` metadata;
dashboard/page_guard.py reads it there for the page, its callbacks and its routes alike, and the
navigation only hides what would be refused anyway.
"""
from __future__ import annotations

import dash

from core.viewer import Role, Viewer

ALL = frozenset(Role)
COMMAND_AND_POLICE = frozenset({Role.admin, Role.street, Role.police})
WALL = frozenset({Role.admin, Role.street, Role.supervisor, Role.police})
ADMIN = frozenset({Role.admin})
POLICE = frozenset({Role.police})  # movement queries are police work: not even an administrator runs them


def page_roles(path: str) -> frozenset[Role]:
    """The roles a page declared; a path that is no page is for admins only (default deny)."""
    for page in dash.page_registry.values():
        if page["path"] == path:
            return frozenset(page.get("roles", ADMIN))
    return ADMIN


def may_open(viewer: Viewer, path: str) -> bool:
    return viewer.role in page_roles(path)
