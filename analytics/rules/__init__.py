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

RULES: dict[str, RuleFn] = {
    module.NAME: module.find
    for module in (
        elderly_inactive, correction_movement, group_rental, arrival_registration, departure,
        utility_anomaly, keysite_surge, visitor_overstay, key_control_movement,
    )
}

__all__ = ["RULES", "Finding", "RuleFn"]
