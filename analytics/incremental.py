"""Incremental sweeps: which subjects each rule must look at again since its last sweep.

A rule's finding about a subject changes only when (a) its evidence changes — a passage of that person,
pass or unknown face lands (late ones too: a bridge's outbox replays events hours old), or a record the
rule reads changes (tag, household, grant, pass, rental, declaration, dwelling, an alert a person closed
or dismissed) — or (b) time crosses one of the rule's boundaries: a last passage turns N days old, an
entry turns 24 hours old, a passage leaves a rule's window, a dismissal's cool-down ends, the local day
or the 04:00 night boundary passes. Each rule below names its evidence and its boundaries; every set is
found by an indexed query over the interval between the two sweeps (events by ``ingest_xid`` or by
``ts``, changes by ``rule_change.xid``), never by a scan of the base.

The watermark of a rule (``rule_watermark``) is the last sweep's ``as_of`` and its snapshot's horizon: the
first transaction id not yet begun (``pg_snapshot_xmax``) and those still running (``pg_snapshot_xip``).
Every other change was visible to that sweep, so "changed since" is ``xid >= xmax OR xid IN running`` —
exact, whatever commits late, and not held back by a long transaction of another database on the same
cluster (with ``pg_snapshot_xmin`` a seed or a dump elsewhere would make every change look new). A rule
with no watermark, other parameters or version, an ``as_of`` before its last, or a bulk change (a seed,
an import of thousands of rows, any utility import for the rules that read readings) sweeps fully.

Only boundaries that can make a finding *appear* (or change its severity) are followed: an alert is
never closed by a rule, so a boundary that only clears a finding changes no alert. Where a rule's
boundaries are too many to list — the night count of every stay grows at 04:00, the dates of tenancies
and declarations at midnight — the rule sweeps fully at the first sweep after that boundary.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.alerts import DISMISS_COOLDOWN
from analytics.params import RuleParams
from analytics.rules.base import local
from core.config import settings

_HORIZON = text("SELECT pg_snapshot_xmax(s)::text::bigint, "
                "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) x) FROM pg_current_snapshot() s")
REGISTRY_TABLES = ("person", "person_tag", "household", "household_member", "relation", "ownership",
                   "access_grant", "visitor_pass", "rental", "self_declaration", "dwelling", "alert")
# Which bulk changes make which rule sweep fully (besides the registry tables above, which all of them read).
READS_READINGS = ("utility_anomaly", "arrival_registration")
# A rule restricted to its subjects (ids of their own type: analytics/rules/base.py, ``id_array``) costs about
# in proportion to them; past this share of the base (its subjects over the rows of person, dwelling or
# visitor_pass, strangers counted as people) the full sweep costs less, and the rule sweeps fully. Measured
# on `street` with 30 days of events (docs/BENCHMARKS.md, "Incremental sweeps"): a random share of the people
# "passing", each rule's subjects found as its scoper finds them, its restricted time against its full one —
# departure: half its full time at 8 % of the people as subjects, 1.14× at 19 % (every floating person);
# group_rental: 0.54× at 14 % of the dwellings, 0.52× at 21 %; arrival_registration: 0.69× at 40 % of the
# dwellings. The rules about tagged people cost less than their full sweep even with every tagged person as
# subject (elderly_inactive 0.9×), and visitor_overstay and utility_anomaly look at few passes or noted
# dwellings: no limit.
FULL_ABOVE_SHARE = {"departure": 0.15, "group_rental": 0.2, "arrival_registration": 0.3}
# Below this many subjects the share is not even counted (a restricted query is cheap whatever the base).
SHARE_CHECKED_ABOVE = 500
_BASE_ROWS = text("SELECT c.relname, CASE WHEN c.reltuples > 0 THEN c.reltuples::bigint END FROM pg_class c "
                  "WHERE c.relname IN ('person', 'dwelling', 'visitor_pass') AND c.relnamespace = 'public'::regnamespace")
NOTES = ("utility_anomaly",)  # rules whose full sweep notes candidates for the incremental ones
ALWAYS_FULL = {"keysite_surge": "its subjects are the few key sites; each sweep reads only their counters' hours"}


@dataclass
class Scope:
    """The subjects a rule looks at in an incremental sweep: people, dwellings, visitor passes, unknown faces."""

    persons: set[int] = field(default_factory=set)
    dwellings: set[int] = field(default_factory=set)
    passes: set[uuid.UUID] = field(default_factory=set)
    strangers: set[uuid.UUID] = field(default_factory=set)

    def size(self) -> int:
        return len(self.persons) + len(self.dwellings) + len(self.passes) + len(self.strangers)

    def add_dedup(self, key: str) -> None:
        """An alert's dedup key (``rule:kind:subject``, analytics/rules/base.py) back to its subject."""
        parts = key.split(":", 2)
        if len(parts) < 3:
            return
        kind, subject = parts[1], parts[2]
        try:
            if kind == "person":
                self.persons.add(int(subject))
            elif kind == "stranger":
                self.strangers.add(uuid.UUID(subject))
            elif kind == "dwelling" and subject.startswith("pass:"):
                self.passes.add(uuid.UUID(subject[5:]))
            elif kind == "dwelling":
                self.dwellings.add(int(subject.split(":")[0]))
        except ValueError:
            return


@dataclass(frozen=True)
class Mark:
    as_of: dt.datetime
    xmin: int                      # the snapshot's xmax: ids from here on had not begun
    digest: str
    running: tuple[int, ...] = ()  # ids that had begun and not ended: their changes were not seen
    candidates: frozenset[int] | None = None  # what the rule's last full sweep noted (utility_anomaly)


@dataclass
class Changes:
    """What landed or changed between two sweeps (``xid >= mark``, or passages whose time came in (a0, a1])."""

    persons: set[int] = field(default_factory=set)
    dwellings: set[int] = field(default_factory=set)
    passes: set[uuid.UUID] = field(default_factory=set)
    strangers: set[uuid.UUID] = field(default_factory=set)
    alert_keys: set[str] = field(default_factory=set)
    bulk: set[str] = field(default_factory=set)
    # Of ``persons``: those a changed record names, and those with a late passage (landed since the mark,
    # timestamped at or before a0: it may fall between passages the last sweep saw).
    record_persons: set[int] = field(default_factory=set)
    late_persons: set[int] = field(default_factory=set)


# --- watermarks ------------------------------------------------------------------------------------

def digest(version: str, p: RuleParams) -> str:
    """A rule's meaning as swept: its version, its parameters, the local time zone."""
    return hashlib.sha1(f"{version}|{p!r}|{settings().timezone}".encode()).hexdigest()[:16]


def snapshot_horizon(session: Session) -> tuple[int, list[int]]:
    """(xmax, running ids) of a snapshot taken now: what a later sweep must still look at."""
    xmax, running = session.execute(_HORIZON).one()
    return int(xmax), [int(x) for x in running]


def read_marks(session: Session) -> dict[str, Mark]:
    return {r.rule: Mark(r.as_of, int(r.seen_xid), r.digest, tuple(r.running_xids),
                         None if r.candidates is None else frozenset(r.candidates))
            for r in session.execute(text("SELECT rule, as_of, seen_xid, digest, running_xids, candidates FROM rule_watermark"))}


def save_mark(session: Session, rule: str, as_of: dt.datetime, horizon: tuple[int, list[int]], rule_digest: str, *,
              full: bool, candidates: list[int] | None = None) -> None:
    """A full sweep replaces the noted candidates (none noted: NULL); an incremental one keeps them."""
    session.execute(text(
        "INSERT INTO rule_watermark (rule, as_of, seen_xid, running_xids, digest, full_as_of, candidates, swept_at) "
        "VALUES (:rule, :as_of, :xmax, :running, :digest, CASE WHEN :full THEN CAST(:as_of AS timestamptz) END, "
        "CAST(:candidates AS bigint[]), now()) "
        "ON CONFLICT (rule) DO UPDATE SET as_of = EXCLUDED.as_of, seen_xid = EXCLUDED.seen_xid, "
        "running_xids = EXCLUDED.running_xids, digest = EXCLUDED.digest, "
        "full_as_of = coalesce(EXCLUDED.full_as_of, rule_watermark.full_as_of), "
        "candidates = CASE WHEN :full THEN EXCLUDED.candidates ELSE rule_watermark.candidates END, swept_at = now()"),
        {"rule": rule, "as_of": as_of, "xmax": horizon[0], "running": horizon[1], "digest": rule_digest, "full": full,
         "candidates": candidates})


def prune_changes(session: Session) -> int:
    """Forget changes every rule with a watermark has seen (a rule without one sweeps fully)."""
    return session.execute(text(
        "DELETE FROM rule_change WHERE xid < (SELECT min(least(seen_xid, (SELECT min(x) FROM unnest(running_xids) x))) "
        "FROM rule_watermark)")).rowcount or 0


# --- evidence and boundaries, each an indexed query over the interval ----------------------------

def _ids(session: Session, sql: str, **params: object) -> set:
    return {r[0] for r in session.execute(text(sql), params) if r[0] is not None}


_NEW_PASSAGES = """
SELECT person_id, pass_id, stranger_id FROM access_event WHERE ingest_xid >= :mark AND ts <= :a1
UNION
SELECT person_id, pass_id, stranger_id FROM access_event WHERE ingest_xid = ANY(CAST(:running AS bigint[])) AND ts <= :a1
UNION
SELECT person_id, pass_id, stranger_id FROM access_event WHERE ts > :a0 AND ts <= :a1
"""

# People with a passage that landed since the mark but is timestamped at or before the last sweep's as_of.
_LATE_PASSERS = """
SELECT DISTINCT person_id FROM access_event
WHERE (ingest_xid >= :mark OR ingest_xid = ANY(CAST(:running AS bigint[]))) AND ts <= :a0 AND person_id IS NOT NULL
"""

# Unknown faces whose attempt a newly landed resident's passage may now link (same gate and direction,
# within link_seconds after it): their "is this a resident?" verdict may change. For the passages whose
# time came in (a0, as_of], every face seen from a0 − link_seconds on (one range); for late ones (landed
# since the mark, timestamped before a0: few), the faces at their gate just before them.
_LINKABLE = """
SELECT DISTINCT stranger_id FROM access_event
WHERE ts >= :a0 - make_interval(secs => :link) AND ts <= :a1 AND stranger_id IS NOT NULL
UNION
SELECT DISTINCT s.stranger_id
FROM (SELECT gate_id, direction, ts FROM access_event WHERE (ingest_xid >= :mark OR ingest_xid = ANY(CAST(:running AS bigint[])))
        AND ts <= :a0 AND person_id IS NOT NULL AND result = 'open') n
CROSS JOIN LATERAL (
  SELECT x.stranger_id FROM access_event x WHERE x.gate_id = n.gate_id AND x.direction = n.direction
    AND x.stranger_id IS NOT NULL AND x.ts >= n.ts - make_interval(secs => :link) AND x.ts < n.ts
) s
"""

_PERSONS_PASSING = """
SELECT DISTINCT e.person_id FROM access_event e {join}
WHERE e.ts >= :lo AND e.ts <= :hi AND e.person_id IS NOT NULL AND e.result = 'open' AND e.method <> 'count'
"""
_TAGGED = "JOIN person_tag t ON t.person_id = e.person_id AND t.tag::text = ANY(:tags)"
_FLOATING = "JOIN person p ON p.id = e.person_id AND p.residence_kind = 'floating'"

# Every record that ties a person to a dwelling: (source, its dwelling column, its person column).
_TIES = (
    ("person", "home_dwelling_id", "id"),
    ("household_member m JOIN household h ON h.id = m.household_id", "h.dwelling_id", "m.person_id"),
    ("access_grant", "dwelling_id", "grantee_person_id"),
    ("rental", "dwelling_id", "lessee_person_id"),
    ("relation", "dwelling_id", "person_id"),
    ("self_declaration", "dwelling_id", "person_id"),
)
# The dwellings these people are tied to, and (the other way) the people tied to these dwellings.
_TIED_DWELLINGS = "\nUNION ".join(f"SELECT {d} FROM {src} WHERE {p} = ANY(CAST(:ids AS bigint[]))" for src, d, p in _TIES)
_PEOPLE_OF_DWELLINGS = "\nUNION ".join(
    f"SELECT {d} AS dwelling_id, {p} AS person_id FROM {src} WHERE {d} = ANY(CAST(:ids AS integer[]))" for src, d, p in _TIES)

# Grants that start or end (by the clock) inside the interval: who may count as living somewhere changes.
_GRANT_EDGES = """
SELECT grantee_person_id, dwelling_id FROM access_grant
WHERE (valid_from > :a0 AND valid_from <= :a1) OR (valid_to > :a0 AND valid_to <= :a1)
"""


class Planner:
    """One incremental sweep's view of what changed; answers, per rule, a Scope or "sweep fully" (None)."""

    def __init__(self, session: Session, as_of: dt.datetime, p: RuleParams) -> None:
        self.session, self.as_of, self.p = session, as_of, p
        self._changes: dict[tuple[dt.datetime, int], Changes] = {}
        self._base: dict[str, int] | None = None

    # what landed and what changed
    def changes(self, mark: Mark) -> Changes:
        key = (mark.as_of, mark.xmin)
        if key not in self._changes:
            ch = Changes()
            window = {"mark": mark.xmin, "running": list(mark.running), "a0": mark.as_of, "a1": self.as_of}
            for r in self.session.execute(text(_NEW_PASSAGES), window):
                if r.person_id is not None:
                    ch.persons.add(r.person_id)
                if r.pass_id is not None:
                    ch.passes.add(r.pass_id)
                if r.stranger_id is not None:
                    ch.strangers.add(r.stranger_id)
            for r in self.session.execute(text(
                    "SELECT tbl, person_id, dwelling_id, pass_id, ref, bulk FROM rule_change "
                    "WHERE xid >= :mark OR xid = ANY(CAST(:running AS bigint[]))"), window):
                if r.bulk:
                    ch.bulk.add(r.tbl)
                if r.person_id is not None:
                    ch.persons.add(r.person_id)
                    ch.record_persons.add(r.person_id)
                if r.dwelling_id is not None:
                    ch.dwellings.add(r.dwelling_id)
                if r.pass_id is not None:
                    ch.passes.add(r.pass_id)
                if r.ref is not None:
                    ch.alert_keys.add(r.ref)
            ch.late_persons = _ids(self.session, _LATE_PASSERS, **window)
            self._changes[key] = ch
        return self._changes[key]

    def _passing(self, mark: Mark, days: float, join: str = "", **params: object) -> set[int]:
        """People whose passage (activity) at ``days`` before a0 … a1 turned that old during the interval."""
        age = dt.timedelta(days=days)
        return _ids(self.session, _PERSONS_PASSING.format(join=join), lo=mark.as_of - age, hi=self.as_of - age, **params)

    def _tied(self, persons: Iterable[int]) -> set[int]:
        ids = sorted(persons)
        return _ids(self.session, _TIED_DWELLINGS, ids=ids) if ids else set()

    def _alerts(self, rule: str, mark: Mark, ch: Changes, scope: Scope) -> None:
        """Alerts of this rule a person closed or dismissed since, and dismissals whose cool-down ended."""
        for key in ch.alert_keys:
            if key.startswith(f"{rule}:"):
                scope.add_dedup(key)
        for key in _ids(self.session, "SELECT dedup_key FROM alert WHERE rule = :rule AND status = 'dismissed' "
                                      "AND updated_at > :lo AND updated_at <= :hi",
                        rule=rule, lo=mark.as_of - DISMISS_COOLDOWN, hi=self.as_of - DISMISS_COOLDOWN):
            scope.add_dedup(key)

    def _grant_edges(self, mark: Mark) -> tuple[set[int], set[int]]:
        rows = self.session.execute(text(_GRANT_EDGES), {"a0": mark.as_of, "a1": self.as_of}).all()
        return {r[0] for r in rows}, {r[1] for r in rows}

    # the decision
    def scope(self, rule: str, mark: Mark | None, rule_digest: str) -> tuple[Scope | None, str]:
        """(None, why) to sweep fully, or (the subjects to look at, "incremental")."""
        if rule in ALWAYS_FULL:
            return None, "full: " + ALWAYS_FULL[rule]
        if mark is None:
            return None, "full: no earlier sweep"
        if mark.digest != rule_digest:
            return None, "full: parameters or version changed"
        if self.as_of < mark.as_of:
            return None, "full: as_of before the last sweep"
        ch = self.changes(mark)
        bulk = ch.bulk & set(REGISTRY_TABLES)
        if rule in READS_READINGS and "utility_reading" in ch.bulk:
            bulk.add("utility_reading")
        if bulk:
            return None, f"full: bulk change of {', '.join(sorted(bulk))}"
        day_changed = local(mark.as_of).date() != local(self.as_of).date()
        night_changed = _night(mark.as_of) != _night(self.as_of)
        scoper = _SCOPERS[rule]
        scope = scoper(self, mark, ch, day_changed, night_changed)
        if scope is None:
            return None, "full: " + _FULL_WHEN[rule]
        self._alerts(rule, mark, ch, scope)
        limit = FULL_ABOVE_SHARE.get(rule)
        if limit is not None and scope.size() > SHARE_CHECKED_ABOVE:
            share = self._share(scope)
            if share > limit:
                return None, f"full: {scope.size()} subjects, {share:.0%} of the base (more than {limit:.0%})"
        return scope, "incremental"

    def _share(self, scope: Scope) -> float:
        """The subjects as a share of the base: each kind over its table's rows (the planner's estimate, free;
        counted where the table was never analysed), the largest share."""
        if self._base is None:
            self._base = {name: int(n) if n is not None else int(self.session.execute(
                text(f"SELECT count(*) FROM {name}")).scalar_one())
                for name, n in self.session.execute(_BASE_ROWS)}
        base = self._base
        shares = [len(scope.persons) / max(base["person"], 1), len(scope.dwellings) / max(base["dwelling"], 1),
                  len(scope.passes) / max(base["visitor_pass"], 1), len(scope.strangers) / max(base["person"], 1)]
        return max(shares)


def _night(at: dt.datetime) -> dt.date:
    """The night a moment belongs to (nights change at 04:00 local, as the rules count them)."""
    return (local(at) - dt.timedelta(hours=4)).date()


# --- per rule: its evidence and its boundaries ---------------------------------------------------

Scoper = Callable[[Planner, Mark, Changes, bool, bool], "Scope | None"]


def _elderly(pl: Planner, mark: Mark, ch: Changes, _day: bool, _night_: bool) -> Scope:
    """独居老人: evidence — the tagged person's passages, their tag and record. Boundaries — the last
    passage turns ``inactive_days`` old (fires) and ``2 × inactive_days`` old (severity high)."""
    p, tags = pl.p, ["elderly_alone", "disabled"]
    # A passage timestamped after the last sweep is newer than any it saw: it can only clear (the clock
    # starts again). A late one may be a first sighting in the look-back, and records change who is tagged.
    persons = _tagged(pl, ch.record_persons | ch.late_persons, tags)
    for days in (p.inactive_days, 2 * p.inactive_days):
        persons |= pl._passing(mark, days, _TAGGED, tags=tags)
    return Scope(persons=persons)


def _tagged(pl: Planner, persons: set[int], tags: list[str]) -> set[int]:
    """Of these people, those with one of the tags (the others are not the rule's subjects)."""
    return _ids(pl.session, "SELECT person_id FROM person_tag WHERE person_id = ANY(CAST(:ids AS bigint[])) AND tag::text = ANY(:tags)",
                ids=sorted(persons), tags=tags) if persons else set()


def _supervised(tag: str) -> Scoper:
    def scoper(pl: Planner, mark: Mark, ch: Changes, _day: bool, _night_: bool) -> Scope:
        """社区矫正 / 重点稳控: evidence — the person's passages (night, other compounds), tag and record.
        Boundary — the last passage turns ``correction_absent_days`` old (absent). Night passages and other
        compounds come only with passages; leaving the window only clears."""
        persons = _tagged(pl, ch.persons, [tag]) | pl._passing(mark, pl.p.correction_absent_days, _TAGGED, tags=[tag])
        return Scope(persons=persons)
    return scoper


def _departure(pl: Planner, mark: Mark, ch: Changes, day: bool, _night_: bool) -> Scope:
    """人走注销: evidence — the floating person's passages and record (kind, permit expiry, home).
    Boundaries — the last passage turns ``departure_quiet_days`` old; at a new local day, the 3-month
    horizon moves and takes in permits expiring in the days it moved over. Of these, only floating people
    whose permit ends before the horizon are the rule's subjects (the others cannot be found as of now)."""
    from analytics.rules.departure import _add_months

    p = pl.p
    horizon = _add_months(local(pl.as_of).date(), p.departure_expiry_months)
    # As for 独居老人: a passage after the last sweep only clears "no passage for 7 days".
    persons = ch.record_persons | ch.late_persons | pl._passing(mark, p.departure_quiet_days, _FLOATING)
    if day:
        h0 = _add_months(local(mark.as_of).date(), p.departure_expiry_months)
        persons |= _ids(pl.session, "SELECT id FROM person WHERE residence_kind = 'floating' "
                                    "AND temp_residence_expiry >= :h0 AND temp_residence_expiry < :h1", h0=h0, h1=horizon)
    # Only floating people whose permit ends before the horizon as of now can be found: the rule's own subjects.
    persons = _ids(pl.session, "SELECT id FROM person WHERE id = ANY(CAST(:ids AS bigint[])) AND residence_kind = 'floating' "
                               "AND temp_residence_expiry < :horizon", ids=sorted(persons), horizon=horizon) if persons else set()
    return Scope(persons=persons)


def _overstay(pl: Planner, mark: Mark, ch: Changes, _day: bool, _night_: bool) -> Scope:
    """访客超时: evidence — the pass's passages and the pass itself. Boundary — an entry on it turns
    ``overstay_hours`` old."""
    age = dt.timedelta(hours=pl.p.overstay_hours)
    entered = _ids(pl.session, "SELECT DISTINCT pass_id FROM access_event WHERE ts >= :lo AND ts <= :hi "
                               "AND pass_id IS NOT NULL AND direction = 'in' AND result = 'open'",
                   lo=mark.as_of - age, hi=pl.as_of - age)
    return Scope(passes=set(ch.passes) | entered)


def _group_rental(pl: Planner, mark: Mark, ch: Changes, day: bool, night: bool) -> Scope | None:
    """群租房: evidence — late passages of everyone tied to the let dwelling, passages of its visitors'
    passes, and every record that ties people to it or makes it let. Boundaries — a person's last passage
    leaves the 30-day window (with none left, someone registered there counts as staying); a grant starts
    or ends; at 04:00 every open stay gains a night and at midnight tenancies and relations start or end:
    then it sweeps fully. Of those dwellings, only the let ones are its subjects.

    Why a person's passages timestamped after the last sweep are not evidence: this sweep runs in the same
    night (04:00 to 04:00) as the last, or fully. Such passages come after every passage the last sweep saw;
    the stay they close had its nights counted up to this night already (an open stay counts to the night
    of as_of), and the stays they open or close among themselves lie within this night: no one's nights
    rise, and a first passage only takes away "registered, no passage": no finding can appear. A visitor's
    stay counts only when closed by an exit, so a pass's passages stay evidence."""
    from analytics.rules.group_rental import let_dwellings

    if day or night:
        return None
    window = pl.p.group_rental_window_days
    leaving = pl._passing(mark, window)
    if leaving:  # only those left with no passage in the window can be counted anew (registered there)
        leaving -= _ids(pl.session, "SELECT DISTINCT person_id FROM access_event WHERE person_id = ANY(CAST(:ids AS bigint[])) "
                                    "AND ts > CAST(:as_of AS timestamptz) - make_interval(days => :window) AND ts <= :as_of "
                                    "AND result = 'open' AND method <> 'count'",
                        ids=sorted(leaving), as_of=pl.as_of, window=window)
    grant_people, grant_dwellings = pl._grant_edges(mark)
    persons = ch.record_persons | ch.late_persons | leaving | grant_people
    passes = set(ch.passes) | _passes_passing(pl, mark, window)
    dwellings = set(ch.dwellings) | pl._tied(persons) | grant_dwellings | _pass_dwellings(pl, passes)
    # Only let dwellings are the rule's subjects: most dwellings are lived in by their owners.
    return Scope(dwellings=set(let_dwellings(pl.session, pl.as_of, sorted(dwellings))))


def _utility(pl: Planner, mark: Mark, ch: Changes, day: bool, _night_: bool) -> Scope | None:
    """水电气: evidence — the dwelling's readings (day by day: any new reading sweeps fully) and the
    passages of its people (presence). Boundaries — a last passage turns ``utility_recent_days − 1``
    days old (present → away) or leaves the look-back (away → unknown: a drop is reported again); a new
    local day moves the recent and baseline days: then it sweeps fully. Only the dwellings whose readings
    show an anomaly today (noted by the day's full sweep: a few hundred in a city) can be found, so their
    people are found first and only their passages looked at."""
    if day or mark.candidates is None:
        return None
    p = pl.p
    candidates = sorted(mark.candidates)
    ties = pl.session.execute(text(_PEOPLE_OF_DWELLINGS), {"ids": candidates}).all() if candidates else []
    people = sorted({t.person_id for t in ties})
    grant_people, grant_dwellings = pl._grant_edges(mark)
    hits = (ch.persons | grant_people) & set(people)
    if people:
        only_them = "JOIN unnest(CAST(:people AS bigint[])) AS them(id) ON them.id = e.person_id"
        for days in (max(1, p.utility_recent_days - 1), p.lookback_days):
            hits |= pl._passing(mark, days, only_them, people=people)
    dwellings = {t.dwelling_id for t in ties if t.person_id in hits}
    return Scope(dwellings=(set(ch.dwellings) | grant_dwellings | dwellings) & mark.candidates)


def _arrival(pl: Planner, mark: Mark, ch: Changes, day: bool, night: bool) -> Scope | None:
    """人来登记: evidence — an unknown face's attempts and the residents' passages that may link them,
    a grantee's passages and records, a visitor's passes and their passages, the names on a dwelling's
    utility account (any reading import sweeps fully). Boundaries — a passage or pass leaves the
    14-day window (the evening share may rise); a grant starts or ends; at 04:00 an open stay gains a
    night and at midnight the day changes: then it sweeps fully."""
    from analytics.registration_model import WINDOW_DAYS

    if day or night:
        return None
    age = dt.timedelta(days=WINDOW_DAYS)
    window = {"lo": mark.as_of - age, "hi": pl.as_of - age}
    strangers = set(ch.strangers) | _ids(pl.session, "SELECT DISTINCT stranger_id FROM access_event WHERE ts >= :lo "
                                                     "AND ts <= :hi AND stranger_id IS NOT NULL", **window)
    strangers |= _ids(pl.session, _LINKABLE, mark=mark.xmin, running=list(mark.running), a0=mark.as_of, a1=pl.as_of,
                      link=pl.p.link_seconds)
    grant_people, grant_dwellings = pl._grant_edges(mark)
    persons = set(ch.persons) | pl._passing(mark, WINDOW_DAYS) | grant_people
    if ch.dwellings:  # a renamed or newly registered person there changes a grantee's "utility in a new name"
        persons |= _ids(pl.session, "SELECT grantee_person_id FROM access_grant WHERE dwelling_id = ANY(CAST(:ids AS integer[]))",
                        ids=sorted(ch.dwellings))
    # Of these people, only grantees with a grant in force are the rule's subjects (they are found by their grants).
    persons = _ids(pl.session, "SELECT grantee_person_id FROM access_grant WHERE grantee_person_id = ANY(CAST(:ids AS bigint[])) "
                               "AND revoked_at IS NULL AND valid_from <= :a1 AND (valid_to IS NULL OR valid_to > :a1)",
                   ids=sorted(persons), a1=pl.as_of) if persons else set()
    passes = set(ch.passes) | _passes_passing(pl, mark, WINDOW_DAYS)
    dwellings = set(ch.dwellings) | grant_dwellings | _pass_dwellings(pl, passes)
    dwellings |= _ids(pl.session, "SELECT dwelling_id FROM visitor_pass WHERE (valid_from > :a0 AND valid_from <= :a1) "
                                  "OR (valid_to > :lo AND valid_to <= :hi)", a0=mark.as_of, a1=pl.as_of, **window)
    return Scope(persons=persons, dwellings=dwellings, strangers=strangers)


def _passes_passing(pl: Planner, mark: Mark, days: float) -> set[uuid.UUID]:
    age = dt.timedelta(days=days)
    return _ids(pl.session, "SELECT DISTINCT pass_id FROM access_event WHERE ts >= :lo AND ts <= :hi "
                            "AND pass_id IS NOT NULL AND result = 'open'", lo=mark.as_of - age, hi=pl.as_of - age)


def _pass_dwellings(pl: Planner, passes: set[uuid.UUID]) -> set[int]:
    return _ids(pl.session, "SELECT DISTINCT dwelling_id FROM visitor_pass WHERE id = ANY(CAST(:ids AS uuid[]))",
                ids=sorted(passes)) if passes else set()


_SCOPERS: dict[str, Scoper] = {
    "elderly_inactive": _elderly,
    "correction_movement": _supervised("community_correction"),
    "key_control_movement": _supervised("key_control"),
    "departure": _departure,
    "visitor_overstay": _overstay,
    "group_rental": _group_rental,
    "utility_anomaly": _utility,
    "arrival_registration": _arrival,
}
_FULL_WHEN = {
    "group_rental": "a new night (04:00) or day: every open stay gains a night",
    "utility_anomaly": "a new local day moves the recent and baseline days (or no candidates noted yet)",
    "arrival_registration": "a new night (04:00) or day: open stays gain a night, the day's records change",
}
