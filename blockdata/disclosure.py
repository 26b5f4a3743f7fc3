"""What each role's duty lets it see of a person beyond "lives here", in one place (issue #16, 12-14).

- Movement (a person's gate passages) is police work: PIPL art. 28 counts whereabouts as sensitive.
  Only ``MOVEMENT_ROLES``, with a stated reason, and only passages at gates inside their jurisdiction.
  Everyone else sees that the person lives there, masked by role as before.
- Tags follow their legal basis: a tag whose ``legal_basis_expiry`` has passed is neither shown nor
  used (the rules check the same date). Supervision tags (community correction, key control) are
  shown only to ``SENSITIVE_TAG_ROLES``; other roles do not learn that the tag exists.
- A relation that ended (``valid_to`` in the past) no longer ties a person to a place, so it opens
  the person to no one; only live ones and the home dwelling do.
"""
from __future__ import annotations

import datetime as dt

from core.viewer import Role, Viewer

MOVEMENT_ROLES = frozenset({Role.police})
SENSITIVE_TAGS = frozenset({"community_correction", "key_control"})
SENSITIVE_TAG_ROLES = frozenset({Role.police})
MIN_REASON = 4


def may_see_movement(viewer: Viewer) -> bool:
    return viewer.role in MOVEMENT_ROLES


def tag_visible(viewer: Viewer, tag: str, legal_basis_expiry: dt.date | None, today: dt.date) -> bool:
    """Whether this viewer is shown this tag today."""
    if legal_basis_expiry is not None and legal_basis_expiry < today:
        return False
    return tag not in SENSITIVE_TAGS or viewer.role in SENSITIVE_TAG_ROLES


def relation_live(valid_to: dt.date | None, today: dt.date) -> bool:
    return valid_to is None or valid_to >= today
