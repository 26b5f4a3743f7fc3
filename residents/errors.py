"""The resident services' refusals, each with the HTTP status the API answers (see api.py)."""
from __future__ import annotations

from core.errors import GridPulseError, InvalidInput


class Conflict(InvalidInput):
    """Valid on its own but not now: over the dwelling's cap, a duplicate, already revoked (HTTP 409)."""


class RateLimited(GridPulseError):
    """Too many requests of one kind from one resident in the window (HTTP 429)."""


class ConsentRequired(GridPulseError):
    """A face template without the resident's live, separate consent (HTTP 403)."""
