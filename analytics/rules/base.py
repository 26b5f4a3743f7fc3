"""What every rule returns: findings that become alerts. A rule only finds; people decide (PIPL art. 24)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.params import RuleParams
from blockdata.models import Severity


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

    @property
    def dedup_key(self) -> str:
        return f"{self.rule}:{self.subject_kind}:{self.dedup_subject or self.subject_id}"


RuleFn = Callable[[Session, dt.datetime, RuleParams], list[Finding]]

# A person's place: home dwelling → building → grid, with a point to put the marker on the map.
PERSON_PLACE = """
  JOIN dwelling d ON d.id = p.home_dwelling_id
  JOIN building b ON b.id = d.building_id
"""


def rows(session: Session, sql: str, **params: Any) -> list[Any]:
    return list(session.execute(text(sql), params))


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
