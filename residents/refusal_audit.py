"""Every refusal of the resident services is written to the audit log (issue #16, item 16).

A 401, 403, 404 or 429 rolls the request's transaction back, so the refusal is recorded in a
transaction of its own: probing other residents' dwellings, grants or passes leaves a trail even
though it changed nothing. The resident is the token's subject where the token was good
(``request.state.resident_pid``, set by the identity dependency), ``resident:unknown`` otherwise.
"""
from __future__ import annotations

from fastapi import Request

from core.errors import GridPulseError
from blockdata import audit
from blockdata.db import transaction

AUDITED = {401: "access.unauthenticated", 403: "access.denied", 404: "access.not_found", 429: "access.rate_limited"}


def audit_refusal(request: Request, status: int, exc: GridPulseError) -> None:
    action = AUDITED.get(status)
    if action is None:
        return
    pid = getattr(request.state, "resident_pid", None) or "unknown"
    subject = f"api:{request.method} {request.url.path}"[:128]
    with transaction() as session:
        audit.record_resident(session, pid, action, subject, status=status, reason=exc.reason[:300])
