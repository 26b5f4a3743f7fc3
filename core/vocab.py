"""The domain's words, defined once: each value the data carries with the Chinese label users read.

A value and its label travel together (``ResidenceKind.floating.label == "流动"``), so no page, layer or
report keeps its own copy of a label table, and a string compare against a value that is really an enum
cannot silently never match (the drill-down once showed "M"/"F" that way). The block-data models use
these enums as column types; the stages above read ``.label`` for display.
"""
from __future__ import annotations

import enum


class LabelledEnum(str, enum.Enum):
    """A string enum whose members are declared as ``name = "value", "标签"``."""

    label: str

    def __new__(cls, value: str, label: str) -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def label_of(cls, value: object, default: str | None = None) -> str:
        """The label of a value (a member or its string value); unknown values show as themselves."""
        try:
            return cls(value).label
        except ValueError:
            return default if default is not None else str(value)


class RegionLevel(LabelledEnum):
    city = "city", "市"
    district = "district", "区"
    street = "street", "街道"
    community = "community", "社区"


class AddressKind(LabelledEnum):
    standard = "standard", "标准地址"
    non_standard = "non_standard", "非标准地址"
    virtual = "virtual", "虚拟地址"
    point = "point", "点位地址"


class KeySiteCategory(LabelledEnum):
    school = "school", "学校"
    hospital = "hospital", "医院"
    station = "station", "车站"
    market = "market", "市场"
    mall = "mall", "商场"
    park = "park", "公园"
    government = "government", "机关"


class DwellingUse(LabelledEnum):
    residential = "residential", "自住"
    commercial = "commercial", "商用"
    rented = "rented", "出租"
    vacant = "vacant", "空置"


class ResidenceKind(LabelledEnum):
    registered = "registered", "户籍"
    resident = "resident", "常住"
    floating = "floating", "流动"
    overseas = "overseas", "境外"


class Sex(LabelledEnum):
    male = "M", "男"
    female = "F", "女"


class PersonTagKind(LabelledEnum):
    elderly_alone = "elderly_alone", "独居老人"
    disabled = "disabled", "残疾人"
    community_correction = "community_correction", "社区矫正人员"
    key_control = "key_control", "重点稳控人员"
    student = "student", "学生"
    commuter = "commuter", "通勤"


class Direction(LabelledEnum):
    entry = "in", "进"
    exit = "out", "出"


class AccessMethod(LabelledEnum):
    face = "face", "刷脸"
    resident_qr = "resident_qr", "居民码"
    visitor_qr = "visitor_qr", "访客码"
    card = "card", "刷卡"
    manual = "manual", "人工登记"
    count = "count", "计数"


class Severity(LabelledEnum):
    low = "low", "低"
    medium = "medium", "中"
    high = "high", "高"
    critical = "critical", "紧急"


class RuleName(LabelledEnum):
    """The rules' names (analytics/rules/) as alerts and work orders carry them."""

    elderly_inactive = "elderly_inactive", "独居老人/残疾人多日未出门"
    correction_movement = "correction_movement", "社区矫正人员活动异常"
    group_rental = "group_rental", "疑似群租"
    arrival_registration = "arrival_registration", "人来登记：疑似未登记人员"
    departure = "departure", "人走注销：核实是否离开"
    utility_anomaly = "utility_anomaly", "水电气异常"
    keysite_surge = "keysite_surge", "重点场所人流激增"
    visitor_overstay = "visitor_overstay", "访客超时未离开"
