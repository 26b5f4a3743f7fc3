"""Run one query on every district a viewer's jurisdiction reaches; an unreachable district is a notice.

Why per district and not one statement over a partitioned parent: a statement that touches a dead foreign
server fails as a whole. Each district's part runs in a savepoint of the caller's transaction, so a district
that refuses, times out (the server's ``connect_timeout``) or drops the connection costs only its own rows and
is named in ``unreachable``; any other error (a bug, bad input) is raised as usual.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.viewer import Role, Viewer
from city.servers import District, _is_unreachable, districts

T = TypeVar("T")


@dataclass(frozen=True)
class CityResult(Generic[T]):
    """Rows from the districts that answered, and the districts that did not."""

    rows: list[T]
    queried: tuple[District, ...]
    unreachable: tuple[District, ...] = field(default_factory=tuple)

    @property
    def notices(self) -> list[str]:
        """One line per district that did not answer, as the pages show it."""
        return [f"district {d.code} unreachable — {d.name}无法连接，以下为其余各区的数据" for d in self.unreachable]


def overlaps(viewer: Viewer, district: District) -> bool:
    """Whether the viewer's jurisdiction reaches into the district: a city prefix (3201) covers it, a street
    prefix (320102001) lies inside it. An admin reaches every district."""
    if viewer.role is Role.admin:
        return True
    return any(p.startswith(district.code) or district.code.startswith(p) for p in viewer.prefixes)


def districts_for(session: Session, viewer: Viewer) -> list[District]:
    """The attached districts the viewer may read (nothing of the others is even asked)."""
    return [d for d in districts(session) if overlaps(viewer, d)]


def on_each(session: Session, targets: list[District], part: Callable[[Session, District], T]) -> tuple[dict[str, T], tuple[District, ...]]:
    """``part`` on each district in a savepoint: (district code → its result, the unreachable districts)."""
    results: dict[str, T] = {}
    down: list[District] = []
    for district in targets:
        try:
            with session.begin_nested():
                results[district.code] = part(session, district)
        except DBAPIError as exc:
            if not _is_unreachable(exc):
                raise
            down.append(district)
    return results, tuple(down)


def now() -> dt.datetime:
    """The city's clock, passed to the districts as a parameter: ``now()`` is not shippable to a foreign
    server, so a filter on it would be applied after the rows crossed the network."""
    return dt.datetime.now(dt.timezone.utc)
