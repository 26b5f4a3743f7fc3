"""留痕: the append-only audit log of every access to personal data.

Written in the same transaction as the read it records, so a read that is audited and a read
that happened cannot diverge: if the audit insert fails, the caller gets no data.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.viewer import Viewer
from blockdata.models import AuditLog


def record(
    session: Session, viewer: Viewer, action: str, subject: str, *, reason: str | None = None, **detail: Any
) -> None:
    session.add(
        AuditLog(
            account_id=viewer.account_id,
            username=viewer.username,
            role=viewer.role.value,
            action=action,
            subject=subject,
            reason=reason,
            detail=detail,
        )
    )
    session.flush()


def record_resident(session: Session, person_pid: object, action: str, subject: str, **detail: Any) -> None:
    """A resident acting on their own data through the city app (no account: the app token's subject)."""
    session.add(AuditLog(account_id=None, username=f"resident:{person_pid}", role="resident", action=action,
                         subject=subject, detail=detail))
    session.flush()


def entries_for(session: Session, subject: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.subject == subject).order_by(AuditLog.id)))
