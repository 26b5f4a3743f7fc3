"""Consent records for templates enrolled outside the city app (a gate terminal's enrolment desk, an importer,
the demo's simulator): the person signed the published notice on paper or on the terminal, and that consent
must be recorded like the app's, or the template opens nothing (the gallery is view face_gallery, which
joins every app template to a live consent under a published notice; migration 0006)."""
from __future__ import annotations

from collections.abc import Sequence

import psycopg

PURPOSE = "gate_access"

_RECORD = """
INSERT INTO face_consent (person_id, purpose, notice_version, granted_at)
SELECT p, %(purpose)s, %(notice)s, now() FROM unnest(%(people)s::bigint[]) AS p
WHERE NOT EXISTS (SELECT 1 FROM face_consent c WHERE c.person_id = p AND c.withdrawn_at IS NULL)
ON CONFLICT DO NOTHING
"""


def record_enrolment_consents(conn: psycopg.Connection, person_ids: Sequence[int], notice_version: str) -> int:
    """Record a live consent (to ``notice_version``, which must be published) for each person without one."""
    cur = conn.execute(_RECORD, {"purpose": PURPOSE, "notice": notice_version, "people": list(person_ids)})
    return cur.rowcount
