"""Run one query on every district a viewer's jurisdiction reaches, all at once; an unreachable district is a notice.

Why per district and not one statement over a partitioned parent: a statement that touches a dead foreign
server fails as a whole. Each district's part runs in a thread of its own, on a connection and in a transaction
of its own (postgres_fdw keeps one remote connection per local one, so the districts are asked side by side and
a city page costs its slowest district, not their sum). A district that refuses, drops the connection, or is
still busy after ``GRIDPULSE_DISTRICT_TIMEOUT_S`` (its statement is cancelled, at the district too) costs only
its own rows and is named in ``unreachable``; any other error (a bug, bad input) is raised as usual.

The parts only read the districts' foreign tables: what the caller decides and records (jurisdiction, the audit
row) stays in the caller's session and transaction.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.config import city_settings
from core.viewer import Role, Viewer
from city.servers import District, _is_unreachable, districts

log = logging.getLogger(__name__)

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


class _DistrictDown(Exception):
    """A district's part failed for the district's sake (no connection, lost, or past the timeout)."""


def _is_cancelled(exc: DBAPIError) -> bool:
    """SQLSTATE 57014 (query_canceled): the part's statement_timeout ran out, here or at the district."""
    return (getattr(exc.orig, "sqlstate", None) or "") == "57014"


def _run_part(engine: Engine, district: District, part: Callable[[Session, District], T], timeout_s: float) -> T:
    """One district's part on a connection and in a read transaction of its own, its statements cut off after
    ``timeout_s`` (postgres_fdw then cancels the remote query as well)."""
    with Session(engine) as own, own.begin():
        own.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(max(1, int(timeout_s * 1000)))})
        try:
            return part(own, district)
        except DBAPIError as exc:
            if _is_unreachable(exc) or _is_cancelled(exc):
                log.warning("district %s unreachable: %s", district.code, str(exc.orig).splitlines()[0])
                raise _DistrictDown(district.code) from None
            raise


def on_each(session: Session, targets: list[District], part: Callable[[Session, District], T]) -> tuple[dict[str, T], tuple[District, ...]]:
    """``part`` on every district at once: (district code → its result, the unreachable districts).

    ``part`` gets a session of its own (not ``session``: a session is not shared between threads), bound to the
    same database as ``session``. The call returns after the slowest district or after the per-district timeout,
    whichever is first; a part still running then is left to its statement_timeout and its result dropped."""
    if not targets:
        return {}, ()
    timeout_s = city_settings().district_timeout_s
    engine = session.get_bind().engine
    pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="gp-district")
    try:
        futures: dict[District, Future[T]] = {d: pool.submit(_run_part, engine, d, part, timeout_s) for d in targets}
        wait(futures.values(), timeout=timeout_s)  # the same deadline for all: they started together
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results: dict[str, T] = {}
    down: list[District] = []
    for district, future in futures.items():
        if not future.done():
            log.warning("district %s unreachable: no answer within %.1f s", district.code, timeout_s)
            down.append(district)
            continue
        try:
            results[district.code] = future.result()
        except _DistrictDown:
            down.append(district)
    return results, tuple(down)


def now() -> dt.datetime:
    """The city's clock, passed to the districts as a parameter: ``now()`` is not shippable to a foreign
    server, so a filter on it would be applied after the rows crossed the network."""
    return dt.datetime.now(dt.timezone.utc)
