"""Which role may open which page. The issue's role names map onto the database's:
command_centre → ``street``, grid_supervisor → ``supervisor``, grid_worker → ``worker``
(``police`` and ``admin`` are the same). Checked on the server in each page's layout and callbacks;
the navigation only hides what would be refused anyway.
"""
from __future__ import annotations

from core.viewer import Role, Viewer
from blockdata import audit
from blockdata.db import transaction

ALL = frozenset(Role)
PAGE_ROLES: dict[str, frozenset[Role]] = {
    "/": ALL,
    "/wall": frozenset({Role.admin, Role.street, Role.supervisor, Role.police}),
    "/drill": ALL,
    "/key-sites": frozenset({Role.admin, Role.police, Role.street}),
    "/audit": frozenset({Role.admin}),
    "/orders": ALL,
    "/imports": frozenset({Role.admin}),
    "/accounts": frozenset({Role.admin}),
}


def may_open(viewer: Viewer, path: str) -> bool:
    return viewer.role in PAGE_ROLES.get(path, frozenset({Role.admin}))


def refuse_page(viewer: Viewer, path: str) -> None:
    """Audit a refused page (a forged link or an old bookmark): a refusal is worth knowing about."""
    with transaction() as session:
        audit.record(session, viewer, "access.denied", f"page:{path}", reason=f"role {viewer.role.value} may not open {path}")
