"""指标体系: the figures a street office reports, each with its meaning, unit, kind and levels.

This is the one list the 统计 page, the wall's trends, the weekly report and docs/INDICATORS.md
follow. How each is computed lives in ``analytics/stats_refresh.py`` (the daily aggregates) and
``analytics/figures.py`` (reading them for a place and a period); the kind says how days and places
combine, which is what makes a week or a street a sum of stored rows instead of a scan:

- ``stock``: a state (how many people live here): the value of the period's last refreshed day;
  places add up.
- ``count``: things that happened on a day (arrivals, orders closed): days and places add up.
- ``share``: a ratio of two stored figures, divided after both are summed (never an average of
  ratios): ``num`` / ``den``, shown as a percentage (or per km² for density).
- ``flow``: gate passages from the hourly rollup ``gate_flow_hour`` (kept by triggers as events land).
- ``median``: read from ``work_order`` itself at query time (a median does not add up).
"""
from __future__ import annotations

from dataclasses import dataclass

GROUPS = {"population": "实有人口", "change": "人口变动", "coverage": "覆盖率", "work": "工单办理", "flows": "通行流量"}

LEVELS_ALL = ("street", "community", "grid", "compound")
LEVELS_GRID = ("street", "community", "grid")


@dataclass(frozen=True)
class Indicator:
    key: str
    group: str
    label: str
    unit: str
    kind: str  # stock | count | share | flow | median
    definition: str
    levels: tuple[str, ...] = LEVELS_GRID
    num: str | None = None
    den: str | None = None
    scale: float = 100.0  # shares: × 100 for a percentage; density: × 1


def _i(*args: object, **kw: object) -> Indicator:
    return Indicator(*args, **kw)  # type: ignore[arg-type]


INDICATORS: tuple[Indicator, ...] = (
    # --- 实有人口 ---------------------------------------------------------------------------------
    _i("pop_actual", "population", "实有人口", "人", "stock", "people whose home dwelling lies in the place", LEVELS_ALL),
    _i("pop_registered", "population", "户籍人口", "人", "stock", "actual population of residence kind registered (户籍)", LEVELS_ALL),
    _i("pop_resident", "population", "常住人口", "人", "stock", "actual population of residence kind resident (常住, registered elsewhere, living here long-term)", LEVELS_ALL),
    _i("pop_floating", "population", "流动人口", "人", "stock", "actual population of residence kind floating (流动)", LEVELS_ALL),
    _i("pop_overseas", "population", "境外人员", "人", "stock", "actual population of residence kind overseas (境外)", LEVELS_ALL),
    _i("sep_registered_away", "population", "人户分离(户在人不在)", "人", "stock",
       "members of a household (户) at a dwelling in the place whose home dwelling is another one or unknown", LEVELS_ALL),
    _i("sep_living_unregistered", "population", "人户分离(人在户不在)", "人", "stock",
       "people living in the place who are in no household at their home dwelling", LEVELS_ALL),
    _i("visitors_now", "population", "在场访客", "人", "stock",
       "visitor passes of dwellings in the place whose last entry in the 24 h before the snapshot has no exit after it", LEVELS_ALL),
    _i("pop_realtime", "population", "实时人口", "人", "stock",
       "residents counted inside (analytics/population.py: no exit as their last gate event in 48 h) plus visitors present", LEVELS_ALL),
    _i("area_km2", "population", "面积", "km²", "stock", "area of the grid (or compound) polygons on the ellipsoid", LEVELS_ALL),
    _i("density", "population", "人口密度", "人/km²", "share", "actual population per km² of the place's grids", LEVELS_ALL,
       num="pop_actual", den="area_km2", scale=1.0),
    # --- 人口变动 ---------------------------------------------------------------------------------
    _i("arrivals", "change", "迁入人数", "人", "count", "lives-in relations to a dwelling in the place that start on the day"),
    _i("departures", "change", "迁出人数", "人", "count", "lives-in relations to a dwelling in the place that end on the day"),
    _i("arrival_alerts_opened", "change", "人来登记预警", "条", "count", "arrival_registration alerts created on the day in the place's grids"),
    _i("arrival_registered", "change", "人来登记办结(已登记)", "人", "count",
       "work orders closed on the day whose correction registered a new resident (register_resident)"),
    _i("departure_verified", "change", "人走注销核实", "条", "count",
       "work orders of departure alerts closed on the day as confirmed or corrected"),
    _i("declarations_received", "change", "自主申报受理", "条", "count", "self-declarations for a dwelling in the place declared on the day"),
    _i("declarations_verified", "change", "自主申报核实", "条", "count",
       "self-declarations verified by their doorstep work order, closed on the day"),
    # --- 覆盖率 -----------------------------------------------------------------------------------
    _i("cov_credential_n", "coverage", "持有通行凭证人数", "人", "stock",
       "actual population with a gate credential: a consented app face template, or the right to a resident QR code "
       "at a compound (access_allowed, not barred)", LEVELS_ALL),
    _i("cov_credential", "coverage", "通行凭证覆盖率", "%", "share", "share of the actual population with a gate credential",
       LEVELS_ALL, num="cov_credential_n", den="pop_actual"),
    _i("cov_face_n", "coverage", "人脸授权人数", "人", "stock", "actual population with a consented app face template", LEVELS_ALL),
    _i("cov_face", "coverage", "人脸授权覆盖率", "%", "share", "share of the actual population with a consented app face template",
       LEVELS_ALL, num="cov_face_n", den="pop_actual"),
    _i("dwellings", "coverage", "房屋总数", "套", "stock", "dwellings in the place", LEVELS_ALL),
    _i("dwellings_known_n", "coverage", "居住状态已知房屋", "套", "stock",
       "dwellings that are vacant by record, have a resident, or have a rental in force", LEVELS_ALL),
    _i("cov_dwellings_known", "coverage", "房屋居住状态掌握率", "%", "share", "share of dwellings with a known occupancy",
       LEVELS_ALL, num="dwellings_known_n", den="dwellings"),
    _i("records_complete_n", "coverage", "信息完整人数", "人", "stock",
       "actual population with a phone, a household, and (floating/overseas) a temporary residence in force", LEVELS_ALL),
    _i("cov_records_complete", "coverage", "人口信息完整率", "%", "share", "share of the actual population with a complete record",
       LEVELS_ALL, num="records_complete_n", den="pop_actual"),
    # --- 工单办理 ---------------------------------------------------------------------------------
    _i("orders_opened", "work", "新派工单", "件", "count", "work orders created on the day in the place's grids"),
    _i("orders_closed", "work", "办结工单", "件", "count", "work orders closed (done) on the day"),
    _i("orders_closed_on_time", "work", "按期办结", "件", "count", "work orders closed on the day no later than their due time"),
    _i("on_time_rate", "work", "按期办结率", "%", "share", "share of the period's closed orders closed on time",
       num="orders_closed_on_time", den="orders_closed"),
    _i("orders_overdue", "work", "超期未办结", "件", "stock", "open orders past their due time at the snapshot"),
    _i("alerts_open", "work", "未结预警", "条", "stock", "open or dispatched alerts at the snapshot"),
    _i("median_close_h", "work", "办结时长中位数", "小时", "median", "median hours from creation to closing of the orders closed in the period"),
    _i("findings_confirmed", "work", "核查属实", "件", "count", "orders closed on the day with outcome confirmed (also per rule)"),
    _i("findings_corrected", "work", "核查更正", "件", "count", "orders closed on the day with outcome corrected (also per rule)"),
    _i("findings_dismissed", "work", "核查不属实", "件", "count", "orders closed on the day with outcome dismissed (also per rule)"),
    _i("precision", "work", "预警准确率", "%", "share",
       "(confirmed + corrected) / all findings: how often a rule's alert was right at the door (also per rule)",
       num="findings_right", den="findings_all"),
    # --- 通行流量 ---------------------------------------------------------------------------------
    _i("entries", "flows", "进入人次", "人次", "flow", "open entries at the place's compound gates", LEVELS_ALL),
    _i("exits", "flows", "离开人次", "人次", "flow", "exits at the place's compound gates", LEVELS_ALL),
    _i("peak_hour", "flows", "高峰小时通行", "人次/小时", "flow",
       "the period's busiest hour at the place's compound gates (entries + exits)", LEVELS_ALL),
    _i("keysite_peak", "flows", "重点场所高峰", "人次/小时", "flow", "the busiest hour of entries at one key site in the place"),
    _i("keysite_surges", "flows", "重点场所激增", "次", "flow",
       "key-site hours with entries ≥ surge_ratio × the same hour's mean over the 7 days before, and above it by surge_min_excess"),
)

BY_KEY = {i.key: i for i in INDICATORS}
# Stored per rule too, as "<key>:<rule>" (rule = the alert's rule, or the order's kind without an alert).
PER_RULE = ("orders_opened", "findings_confirmed", "findings_corrected", "findings_dismissed")


def in_group(group: str) -> list[Indicator]:
    return [i for i in INDICATORS if i.group == group]
