"""Typed errors that say which record is wrong and why, so a person can act on them."""
from __future__ import annotations


class GridPulseError(Exception):
    """Base of every error the system raises on purpose."""

    def __init__(self, reason: str, *, record: str | None = None) -> None:
        self.reason = reason
        self.record = record
        super().__init__(f"{record}: {reason}" if record else reason)


class InvalidInput(GridPulseError):
    """Input that can never be stored as given (fix the input, then retry)."""


class InvalidGeometry(InvalidInput):
    """A geometry that is empty, of the wrong type, self-intersecting or otherwise invalid."""


class BadCodeFormat(InvalidInput):
    """A region, grid, organisation or other code that does not follow its format."""


class DuplicateCode(InvalidInput):
    """A code that already exists: codes are unique."""


class OutsideParent(InvalidInput):
    """A record that does not lie inside the place it belongs to (a dwelling outside its building, …)."""


class NotFound(GridPulseError):
    """A referenced record does not exist."""


class AccessDenied(GridPulseError):
    """The viewer's role or jurisdiction does not cover what was asked for."""
