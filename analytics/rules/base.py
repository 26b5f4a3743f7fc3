"""What every rule returns: findings that become alerts. A rule only finds; people decide (PIPL art. 24).

Shared meanings (docs/ANALYTICS.md, "What each rule means"):
- *activity* is a person-linked passage (result open) at any gate of any compound or key site, by any
  method; a head count (method ``count``) names nobody and never counts for or against a person;
- every "day", "night", "since" and "expires" is local time in ``GRIDPULSE_TIMEZONE``, computed here
  in Python or with ``AT TIME ZONE :tz`` in SQL, never from the database session's time zone.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.params import RuleParams
from blockdata.models import Severity
from core.config import local_tz, settings

METHOD_WORDS = {
    "face": "by face", "resident_qr": "with a resident code", "visitor_qr": "with a visitor pass",
    "card": "by card", "manual": "registered by the guard", "count": "by head count",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    confidence: float
    subject_kind: str
    subject_id: int
    grid_id: int | None
    point_wkt: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    dedup_subject: str | None = None  # defaults to subject_id; strangers use their pseudonymous UUID
    rule_version: str | None = None

    @property
    def dedup_key(self) -> str:
        return f"{self.rule}:{self.subject_kind}:{self.dedup_subject or self.subject_id}"


RuleFn = Callable[..., list[Finding]]  # (session, as_of, params, scope=None) → findings


# The SQL type of each kind of subject id, as its columns hold it (person: bigint; dwelling: integer; pass
# and unknown face: uuid).
ID_TYPES = {"persons": "bigint", "dwellings": "integer", "passes": "uuid", "strangers": "uuid"}


def id_array(param: str, sql_type: str | None = None) -> str:
    """``:param`` as an array of the ids' own SQL type (by default the type of the subjects it is named after).

    psycopg sends a list of ints as the smallest integer array that holds them (``smallint[]`` when every id
    is under 32,768), and ``bigint = ANY(smallint[])`` is a cross-type comparison PostgreSQL cannot hash:
    every row then walks the whole array, which over a busy hour's thousands of subjects cost seconds (on
    `street`, group_rental over 6,320 dwellings: 3.4 s against 1.4 s for its full sweep). Of the same type,
    the planner uses the array as an index condition, or hashes it once in a filter."""
    return f"CAST(:{param} AS {sql_type or ID_TYPES[param]}[])"


def only(ids: object, column: str, param: str, sql_type: str | None = None) -> str:
    """`` AND column = ANY(:param)`` when an incremental sweep gave the rule its subjects (analytics/incremental.py);
    nothing for a full sweep. The restriction is on the subject itself, so a subject's finding is the same
    either way; the ids go as an array of their own type (:func:`id_array`)."""
    return "" if ids is None else f" AND {column} = ANY({id_array(param, sql_type)})"


def ids_of(ids: object) -> list | None:
    return None if ids is None else sorted(ids)  # type: ignore[call-overload]

# A person's place: home dwelling → building → grid, with a point to put the marker on the map.
PERSON_PLACE = """
  JOIN dwelling d ON d.id = p.home_dwelling_id
  JOIN building b ON b.id = d.building_id
"""

# A person-linked passage that proves the person was out and about (any gate, any method but a head count).
ACTIVITY = "e.person_id = p.id AND e.result = 'open' AND e.method <> 'count'"


def rows(session: Session, sql: str, **params: Any) -> list[Any]:
    # The rules' queries span a month of day partitions: the planner's estimates cross PostgreSQL's JIT
    # threshold and compiling the plan took seconds (5.6 s of group_rental's 6.1 s) for queries that run
    # in a fraction of that. Off for this transaction only.
    session.execute(text("SET LOCAL jit = off"))
    return list(session.execute(text(sql), params))


def streamed(session: Session, sql: str, batch: int = 20_000, **params: Any) -> Iterator[Any]:
    """The rows of a query that may be too many to hold (a city's month of meter readings): fetched from a
    server-side cursor ``batch`` at a time, as :func:`rows` with JIT off."""
    session.execute(text("SET LOCAL jit = off"))
    yield from session.execute(text(sql).execution_options(yield_per=batch), params)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def tz_name() -> str:
    return settings().timezone


def local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(local_tz())


def local_today(as_of: dt.datetime) -> dt.date:
    """The local calendar day of ``as_of``: a basis whose last day was yesterday is over at 01:00 today."""
    return local(as_of).date()


def when(value: dt.datetime | None) -> str:
    """A time as a worker reads it: local, to the minute."""
    return local(value).strftime("%Y-%m-%d %H:%M") if value is not None else "never"


def passage_words(direction: str, method: str, ts: dt.datetime, gate: str | None) -> str:
    """One passage in words: "went out by card at 南门, 2026-11-17 08:05"."""
    verb = "went out" if direction == "out" else "came in"
    place = f" at {gate}" if gate else ""
    return f"{verb} {METHOD_WORDS.get(method, method)}{place}, {when(ts)}"
