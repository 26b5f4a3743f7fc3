"""The rules, one small module each; ``RULES`` is the sweep's registry (name → find function)."""
from __future__ import annotations

from analytics.rules import (
    arrival_registration,
    correction_movement,
    departure,
    elderly_inactive,
    group_rental,
    key_control_movement,
    keysite_surge,
    utility_anomaly,
    visitor_overstay,
)
from analytics.rules.base import Finding, RuleFn

_MODULES = (
    elderly_inactive, correction_movement, group_rental, arrival_registration, departure,
    utility_anomaly, keysite_surge, visitor_overstay, key_control_movement,
)
RULES: dict[str, RuleFn] = {module.NAME: module.find for module in _MODULES}
# A rule's version changes with its meaning or thresholds: doorstep precision is counted per version.
VERSIONS: dict[str, str] = {module.NAME: module.VERSION for module in _MODULES}

__all__ = ["RULES", "VERSIONS", "Finding", "RuleFn"]
