"""What each role sees of a person: full or masked name; ID numbers are never stored unmasked."""
from __future__ import annotations

from core.viewer import Role, Viewer

# The command centre's wall screens are seen by everyone in the room: names masked there.
_ROLES_WITH_NAMES = frozenset({Role.admin, Role.police, Role.supervisor, Role.worker})


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧**娜: keep the surname's first character and, for 3+ characters, the last."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def name_for(viewer: Viewer, name: str) -> str:
    return name if viewer.role in _ROLES_WITH_NAMES else mask_name(name)
