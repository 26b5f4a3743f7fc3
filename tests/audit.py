"""Audit-log assertions that see only the rows the test itself caused.

The audit log is shared by every test and append-only, so "some row with this action exists" proves
nothing; a test takes a mark before it acts and selects the rows after that mark.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from blockdata.db import transaction
from blockdata.models import AuditLog


class AuditMark:
    """``mark = AuditMark()`` before acting; ``mark.rows(action=…)`` after: only the rows written since."""

    def __init__(self) -> None:
        with transaction() as s:
            self.last_id = s.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()

    def rows(self, **where: Any) -> list[AuditLog]:
        query = select(AuditLog).where(AuditLog.id > self.last_id).order_by(AuditLog.id)
        for column, value in where.items():
            query = query.where(getattr(AuditLog, column) == value)
        with transaction() as s:
            found = list(s.scalars(query))
            s.expunge_all()
        return found
