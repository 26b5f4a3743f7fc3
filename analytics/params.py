"""Rule parameters per city preset. Changing a threshold is configuration, not code."""
from __future__ import annotations

from dataclasses import dataclass, replace

from core.config import settings


@dataclass(frozen=True)
class RuleParams:
    # 独居老人/残疾人: no passage at any gate for this many days (elapsed time since the last one)
    inactive_days: float = 3.0
    # 社区矫正: absent this many days; night = local hours [night_start, night_end); window for movement
    correction_absent_days: float = 2.0
    night_start_hour: int = 23
    night_end_hour: int = 5
    correction_window_days: int = 7
    correction_min_night_events: int = 2
    # 群租房: per-flat cap = floor(area / area_per_person), at least 1; or Shanghai's rule
    group_rental_mode: str = "area_cap"  # area_cap | shanghai
    area_per_person_m2: float = 15.0
    shanghai_min_area_per_person_m2: float = 5.0
    shanghai_max_people_per_room: int = 2
    group_rental_window_days: int = 30
    group_rental_min_nights: int = 6  # nights here in the window that make someone a person who stays
    # 人来登记: candidates are scored by the fitted model in analytics/registration_model.py
    registration_threshold: float = 0.5  # on the fitted model's probability (analytics/registration_model.py)
    link_seconds: int = 120  # an unknown face then a resident's own code/card/face at the same gate this soon: that resident
    # 人走注销
    departure_quiet_days: int = 7
    departure_expiry_months: int = 3
    # 水电气: recent days against a baseline of the dwelling's own previous days
    utility_recent_days: int = 3
    utility_baseline_days: int = 28
    utility_spike_ratio: float = 2.5
    utility_spike_sigmas: float = 4.0
    utility_drop_ratio: float = 0.3
    # 重点场所: the last hour against the same hour of the week in earlier weeks
    surge_ratio: float = 3.0
    surge_min_excess: int = 50
    surge_weeks: int = 3
    surge_min_weeks: int = 1  # comparison weeks with data from a working counter, else no baseline
    # 访客超时
    overstay_hours: float = 24.0
    # lookback for "had activity before" (a person never seen at a gate is a data gap, not an alert)
    lookback_days: int = 60


PRESETS: dict[str, RuleParams] = {
    "nanjing": RuleParams(),
    "shanghai": RuleParams(group_rental_mode="shanghai"),
}


def params(preset: str | None = None) -> RuleParams:
    cfg = settings()
    name = preset or cfg.rules_preset
    if name not in PRESETS:
        raise ValueError(f"unknown rules preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return replace(PRESETS[name], area_per_person_m2=cfg.area_per_person_m2)
