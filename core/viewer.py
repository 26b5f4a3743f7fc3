"""Who is asking: role plus jurisdiction, passed to every query that returns places or people.

A jurisdiction is a list of region codes (12 digits) or grid codes (15 digits). Codes are
hierarchical by prefix (GB/T 2260 extended: 6 county + 3 street + 3 community, then a 3-digit
grid sequence), so "may this viewer see grid G" is a prefix test that SQL can run as
``grid.code LIKE ANY(prefixes)`` without walking the hierarchy.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

REGION_CODE = re.compile(r"^\d{12}$")
GRID_CODE = re.compile(r"^\d{15}$")


class Role(str, enum.Enum):
    admin = "admin"            # platform operator: everything, full ID numbers
    street = "street"          # street-office command centre
    supervisor = "supervisor"  # 网格长
    worker = "worker"          # 网格员
    police = "police"          # 派出所


# Rules whose alerts and work orders belong to the police alone (重点稳控): not dispatched to grid workers or
# supervisors, not drawn on their maps, not found by their searches.
POLICE_RULES = frozenset({"key_control_movement"})
ROLES_SEEING_POLICE_RULES = frozenset({Role.admin, Role.police})

# Roles that may see a full name and the unmasked ID number (the rest see masked forms).
ROLES_WITH_FULL_IDENTITY = frozenset({Role.admin, Role.police})


SCOPE_BY_PREFIX_LENGTH = {4: "city", 6: "district", 9: "street", 12: "community", 15: "grid"}
AGGREGATED_SCOPES = frozenset({"city", "district"})


def code_prefix(code: str) -> str:
    """The prefix shared by everything under a region or grid code.

    3201 00 000 000 (city) → "3201"; 320106 000 000 (district) → "320106";
    320106 001 000 (street) → "320106001"; a community or grid code is its own prefix.
    """
    if GRID_CODE.match(code):
        return code
    if not REGION_CODE.match(code):
        raise ValueError(f"not a 12-digit region or 15-digit grid code: {code!r}")
    if code[9:] != "000":
        return code
    if code[6:9] != "000":
        return code[:9]
    if code[4:6] != "00":
        return code[:6]
    return code[:4] if code[2:4] != "00" else code[:2]


@dataclass(frozen=True)
class Viewer:
    account_id: int | None
    role: Role
    jurisdiction: tuple[str, ...] = field(default_factory=tuple)
    username: str = "system"

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(code_prefix(c) for c in self.jurisdiction)

    @property
    def like_patterns(self) -> list[str]:
        """Patterns for ``code LIKE ANY(:patterns)``; an admin sees everything."""
        if self.role is Role.admin:
            return ["%"]
        return [p + "%" for p in self.prefixes]

    def covers(self, code: str) -> bool:
        """Whether a region or grid code lies inside this viewer's jurisdiction."""
        if self.role is Role.admin:
            return True
        return any(code.startswith(p) for p in self.prefixes)

    @property
    def sees_full_identity(self) -> bool:
        return self.role in ROLES_WITH_FULL_IDENTITY

    @property
    def scope(self) -> str:
        """The broadest level the jurisdiction spans: ``city``, ``district``, ``street``, ``community`` or ``grid``
        (an admin: ``city``). A city or district viewer's map starts aggregated (layers/regions.py): what it
        costs follows what it shows, not how many buildings the jurisdiction holds."""
        if self.role is Role.admin or not self.jurisdiction:
            return "city"
        widest = min(len(p) for p in self.prefixes)
        return SCOPE_BY_PREFIX_LENGTH.get(widest, "city" if widest < 6 else "grid")

    @property
    def sees_aggregated_map(self) -> bool:
        return self.scope in AGGREGATED_SCOPES


SYSTEM = Viewer(account_id=None, role=Role.admin, jurisdiction=(), username="system")
