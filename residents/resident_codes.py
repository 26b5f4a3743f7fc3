"""The dynamic resident code (动态通行码): a signed QR valid ≤ 60 s, single-use at the gate, for each
compound whose gates open for the resident now (the same rule the gate applies, blockdata/access_rules.py).
The app asks for a fresh one before the last expires (refresh_after_s)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.keys import load_resident_secrets
from core.errors import AccessDenied
from credentials.qr_codes import RESIDENT_TTL, resident_code
from blockdata.access_rules import compounds_open_to
from blockdata.models import Person

REFRESH_MARGIN = dt.timedelta(seconds=15)


@dataclass(frozen=True)
class ResidentCode:
    compound_id: int
    payload: str
    expires_at: dt.datetime
    refresh_after_s: int


def codes_for(session: Session, person: Person, now: dt.datetime, compound_id: int | None = None) -> list[ResidentCode]:
    compounds = compounds_open_to(session, person.id)
    if compound_id is not None:
        if compound_id not in compounds:
            raise AccessDenied(f"your access does not cover compound {compound_id}", record=f"compound {compound_id}")
        compounds = {compound_id}
    if not compounds:
        raise AccessDenied("no compound's gates open for you now (no ownership, residence or valid grant)",
                           record="resident code")
    secrets = load_resident_secrets()
    refresh = int((RESIDENT_TTL - REFRESH_MARGIN).total_seconds())
    return [ResidentCode(c, resident_code(secrets.qr_signing_key, secrets.qr_key_id, person.id, c, now), now + RESIDENT_TTL,
                         refresh) for c in sorted(compounds)]
