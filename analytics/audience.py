"""Which indicator groups a viewer may see: one rule for the 统计 page and the weekly report alike.

Police see the population and flow groups only: the work of grid workers (orders, findings, rule
precision) and the coverage and change registers are the street's business. The page and the report
(in the browser and from the command line) ask this module, so a report can never show a role more
than the page would.
"""
from __future__ import annotations

from analytics.indicators import GROUPS
from core.viewer import Role, Viewer

POLICE_GROUPS = ("population", "flows")


def groups_for(viewer: Viewer) -> list[str]:
    """The indicator groups (keys of ``GROUPS``, in its order) that ``viewer``'s role may see."""
    if viewer.role is Role.police:
        return [g for g in GROUPS if g in POLICE_GROUPS]
    return list(GROUPS)

