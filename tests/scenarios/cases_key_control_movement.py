"""重点稳控: the same meaning as community correction's rule (docs/ANALYTICS.md) for people under the key-control
tag — absent 2 days, moving at night (23:00–05:00 local) twice in 7 days, or in another compound, only while a
non-blank legal basis is in force (local dates) — with the order in the police's queue.

Each community-correction case holds for this rule with the tag swapped: the signs are the same by design. Two
lookalikes are added that only this rule can have: the correction tag is not the key-control tag, and a person
with both tags is judged on the key-control tag's own basis.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from tests.scenarios import cases_correction_movement as correction
from tests.scenarios.dsl import Case, Person, Tag

RULE = "key_control_movement"


def _swap(tag: Tag) -> Tag:
    return Tag("key_control", tag.basis, tag.until) if tag.kind == "community_correction" else tag


def _as_key_control(case: Case) -> Case:
    people = tuple(dataclasses.replace(p, tags=tuple(_swap(t) for t in p.tags)) for p in case.people)
    return dataclasses.replace(case, rule=RULE, name=f"kc-{case.name}", people=people,
                               why=f"as for community correction: {case.why}")


# (correction's own lookalike — a key-control person is not a correction case — is the mirror of the first case
# added below, so it is not swapped.)
CASES = [_as_key_control(c) for c in correction.CASES
         if not any(t.kind == "key_control" for p in c.people for t in p.tags)]

_night_mover = next(c for c in correction.CASES if c.name == "two-nights-out")
CASES += [
    dataclasses.replace(_night_mover, rule=RULE, name="kc-correction-tag-only", fires=False,
                        why="under community correction, not key control: this rule has no basis to watch him"),
    dataclasses.replace(
        _night_mover, rule=RULE, name="kc-both-tags-key-control-lapsed", fires=False,
        why="both tags, but the key-control basis ended yesterday: the correction basis does not open this rule",
        people=(Person("矫正", home="home", tags=(
            Tag("community_correction", "社区矫正决定书", dt.date(2027, 6, 1)),
            Tag("key_control", "稳控决定", dt.date(2026, 11, 19)))),)),
]
