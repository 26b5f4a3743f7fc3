"""The columns each import kind knows, so a wrong header is one clear line instead of a row-by-row puzzle.

A table whose header says 身份正号 instead of 身份证号 would otherwise be refused row by row with
"no ID number", which sends a person looking at the data instead of the header. Here the header is
checked first: a column the kind does not know is named with the closest known one, and a required
column that is missing is named with the names it may have. GIS files carry many attributes of their
own, so for them only a missing required column is a problem; an OSM export is read by its tags.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Columns:
    """Required columns (each a tuple of accepted names) and the optional ones."""

    required: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        return tuple(n for group in self.required for n in group) + self.optional


_PLACE_CODE = ("code", "id", "osm_id", "编码")
_ID_NUMBER = ("id_number", "身份证号", "证件号码", "身份证")
_DWELLING = ("dwelling_code", "房屋编码")

TABLES: dict[str, Columns] = {
    "addresses": Columns(
        required=(("full_text", "address", "地址", "详细地址"),),
        optional=("code", "地址编码", "kind", "类型", "lon", "lng", "longitude", "经度", "x", "lat", "latitude", "纬度",
                  "y", "region_code", "社区编码"),
    ),
    "dwellings": Columns(
        required=(("code", "房屋编码"), ("building_code", "楼栋编码"), ("unit", "单元"), ("floor", "楼层"),
                  ("area_m2", "area", "面积"), ("room", "室", "房号")),
        optional=("use", "用途", "rooms", "间数"),
    ),
    "people": Columns(
        required=(_ID_NUMBER, ("name", "姓名")),
        optional=("birth_date", "出生日期", "sex", "性别", "residence_kind", "人口类型", "居住类型",
                  "temp_residence_expiry", "居住证有效期", "phone", "电话", "手机") + _DWELLING,
    ),
    "ownership": Columns(
        required=(_DWELLING, ("id_number", "owner_id_number", "身份证号"), ("since", "登记日期", "产权日期")),
        optional=("share", "份额"),
    ),
    "rentals": Columns(
        required=(_DWELLING, ("lessor_id_number", "出租人身份证号"), ("lessee_id_number", "承租人身份证号"),
                  ("start_date", "起租日期")),
        optional=("sublessor_id_number", "二房东身份证号", "end_date", "止租日期", "monthly_rent", "月租金",
                  "blacklisted", "黑名单", "blacklist_reason", "黑名单原因"),
    ),
    "tags": Columns(
        required=(_ID_NUMBER, ("tag", "标签", "类别"), ("department", "source_department", "部门", "来源部门"),
                  ("legal_basis", "依据", "法律依据"), ("legal_basis_expiry", "expiry", "有效期至", "截止日期")),
        optional=("name", "姓名"),
    ),
    "utility": Columns(
        required=(("account_number", "户号", "账号", "用户编号"), ("period", "账期", "月份"), ("reading", "读数", "用量")),
        optional=("address", "地址", "用水地址", "用电地址", "用气地址", "kind", "类型", "表类", "name", "户名"),
    ),
    "fees": Columns(
        required=(("payer_name", "缴费人", "业主", "name"), ("period", "月份", "缴费期间")),
        optional=("amount", "金额", "dwelling_code", "房屋编码", "address", "地址", "房号", "paid_on", "缴费日期"),
    ),
    "organisations": Columns(
        required=(("uscc", "统一社会信用代码", "信用代码"), ("name", "名称", "单位名称")),
        optional=("kind", "类型", "dwelling_code", "房屋编码", "address", "地址"),
    ),
    "employees": Columns(
        required=(_ID_NUMBER, ("uscc", "统一社会信用代码"), ("since", "入职日期", "valid_from")),
        optional=("until", "离职日期", "valid_to", "name", "姓名"),
    ),
}

FEATURES: dict[str, Columns] = {
    "regions": Columns(required=(("code", "adcode", "区划代码", "编码", "id"),)),
    "grids": Columns(required=(("code", "grid_code", "网格编码", "community_code", "社区编码"),)),
    "compounds": Columns(required=(_PLACE_CODE,)),
    "key_sites": Columns(required=(_PLACE_CODE,)),
    "gates": Columns(required=(_PLACE_CODE,)),
    "buildings": Columns(required=(_PLACE_CODE,)),
}


def _closest(name: str, known: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if not match and len(name) >= 2:  # Chinese headers: one wrong character in three is a ratio of 0.67
        match = [k for k in known if len(k) == len(name) and sum(a == b for a, b in zip(k, name)) >= len(name) - 1]
    return f" (did you mean {match[0]!r}?)" if match else ""


def header_problems(kind: str, headers: list[str], *, table: bool) -> list[tuple[str, str]]:
    """(column, one-line reason) for each unknown column (tables only) and each missing required one."""
    spec = (TABLES if table else FEATURES).get(kind)
    if spec is None:
        return []
    present = set(headers)
    problems: list[tuple[str, str]] = []
    if table:
        for h in headers:
            if h not in spec.known and not h.startswith("unnamed:"):
                problems.append((h, f"unknown column {h!r} for {kind}{_closest(h, spec.known)}: rename it to one of "
                                    f"{', '.join(spec.known)}, or remove it"))
    for group in spec.required:
        if not present.intersection(group):
            problems.append((group[0], f"no column {' / '.join(group)}: {kind} need one (the file has "
                                       f"{', '.join(headers) or 'no columns'})"))
    return problems
