"""Who may enter which compound — one rule for the gate bridge (per compound) and the resident
services (per person), over the views access_allowed and access_barred (migration 0003).

The SQL views say who has a basis (owner, resident, household, grant) and who is barred (revoked or
expired grant, blacklisted rental). What they cannot say alone is the override: a blacklisted rental
takes away every basis but ownership. That is :func:`apply_bars`, used by both sides.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

BLACKLISTED = "blacklisted"
K = TypeVar("K", bound=Hashable)


def apply_bars(bases: Iterable[tuple[K, str]], bars: Iterable[tuple[K, str]]) -> tuple[set[K], dict[K, str]]:
    """(allowed keys, refused keys → reason) from (key, basis) and (key, reason) rows, where the key
    is a person (at one compound) or a compound (for one person). A blacklist beats everything but
    ownership; a revoked or expired grant only explains a refusal when nothing else lets them in."""
    by_key: dict[K, set[str]] = {}
    for key, basis in bases:
        by_key.setdefault(key, set()).add(basis)
    barred: dict[K, str] = {}
    for key, reason in bars:
        if reason == BLACKLISTED or key not in barred:
            barred[key] = reason
    for key, reason in barred.items():
        if reason == BLACKLISTED and "owner" not in by_key.get(key, set()):
            by_key.pop(key, None)
    allowed = set(by_key)
    return allowed, {k: r for k, r in barred.items() if k not in allowed}


def compounds_open_to(session: Session, person_id: int) -> set[int]:
    """The compounds whose gates open for this person now."""
    bases = session.execute(text("SELECT compound_id, basis FROM access_allowed WHERE person_id = :p"), {"p": person_id})
    bars = session.execute(text("SELECT compound_id, reason FROM access_barred WHERE person_id = :p"), {"p": person_id})
    return apply_bars(bases.all(), bars.all())[0]
