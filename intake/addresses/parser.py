"""Parsing Chinese addresses into the parts the address base stores: two engines behind ``parse``.

``parse`` uses the CRF tagger trained at run time on the labelled corpus (intake.addresses.tagger)
when the corpus is there, its chunks mapped onto the parts by ``from_spans`` after two structural
``repair``s; without the corpus (or with GRIDPULSE_ADDRESS_PARSER=rules) it uses ``parse_rules``,
the hand-written rules described below. Accuracy of both: bench/import_bench.py, docs/IMPORT.md.

The rules:

Chinese addresses run from the largest place to the smallest (省 → 市 → 区 → 街道/镇 → 社区/村 → 路 →
号 → 小区 → 幢 → 单元 → 层 → 室), and each level ends in a small set of marker characters. The parser
walks the normalised text left to right; at each position it tries the levels *below* the last one
found, in order, and takes the first whose pattern matches there. Text that no level claims is a
name: the first becomes the compound (小区/POI), later ones are kept as ``rest``. A level seen again
(浙江省杭州市余杭区杭州市余杭区) is skipped as redundant. Levels may be missing anywhere.

No gazetteer of real places ships with the code; a short list of province and prefecture-level city
names lets "金华永康市" and "湖州安吉" be read without their 市, and tells a county-level city (义乌市,
溧阳市: the district level) from a prefecture-level one. Remarks (电联, 对面 …) are cut off names.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

from intake.addresses.normalise import canonical_number, normalise

PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
    "四川 贵州 云南 陕西 甘肃 青海 台湾"
).split()
_AUTONOMOUS = "内蒙古自治区|广西壮族自治区|西藏自治区|宁夏回族自治区|新疆维吾尔自治区|内蒙古|广西|西藏|宁夏|新疆"
CITIES = (
    "南京 无锡 徐州 常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁 杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 "
    "舟山 台州 丽水 合肥 芜湖 福州 厦门 泉州 南昌 上饶 济南 青岛 郑州 武汉 长沙 广州 深圳 东莞 佛山 江门 "
    "珠海 南宁 海口 成都 宜宾 贵阳 昆明 西安 兰州 西宁 银川 沈阳 大连 抚顺 长春 哈尔滨 石家庄 太原 呼和浩特 乌鲁木齐 拉萨"
).split()
MUNICIPALITIES = ("北京", "天津", "上海", "重庆")

_NAME = r"[^\d\-A-Za-z#]"  # a character of a place name (numbers end names)
_BAD_DISTRICT_END = ("开发区", "园区", "小区", "社区", "景区", "校区", "厂区", "商区", "高新区", "保税区", "工业区", "服务区", "街区")

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("province", re.compile(rf"(?:{'|'.join(PROVINCES)})省|{_AUTONOMOUS}|(?:{'|'.join(MUNICIPALITIES)})市(?={_NAME}{{1,5}}?区)|(?:{'|'.join(p for p in PROVINCES if p not in MUNICIPALITIES)})(?![省市路街])")),
    ("city", re.compile(rf"(?:{'|'.join(CITIES)})市?|{_NAME}{{2,4}}?(?:市|自治州|地区|盟)(?!场)|(?:{'|'.join(MUNICIPALITIES)})市?")),
    ("district", re.compile(rf"{_NAME}{{1,5}}?(?:区|县|市|旗)(?![场委政])")),
    ("devzone", re.compile(rf"{_NAME}{{2,10}}?(?:开发区|高新区|工业区|工业园区|园区|新区|保税区)")),
    ("street", re.compile(rf"{_NAME}{{1,6}}?(?:街道|镇|乡)(?!路|街|村委)")),
    ("community", re.compile(rf"{_NAME}{{1,6}}?(?:社区|居委会|村委会|(?<!新)(?<![一二三四五六七八九十\d])村)(?![路街道])")),
    ("road", re.compile(rf"(?:{_NAME}{{1,10}}?(?:大道|大街|公路|路|街|巷|胡同|线)(?![道区镇心场厦楼店铺院园苑]))|\d+组")),
    ("number", re.compile(r"\d+(?:-\d+)?(?:号|弄)|\d+(?=-\d+-)|\d+(?=$|[^\d\-号幢栋座单层楼室A-Za-z]|[^\d\-号幢栋座单层楼室A-Za-z#])")),
    ("building", re.compile(r"[A-Za-z](?:座|栋|幢)|[A-Za-z]?\d+[A-Za-z]?(?:号楼|幢|栋|座|#|号(?=\d))|[A-Za-z]?\d+[A-Za-z]?(?=-\d)")),
    ("unit", re.compile(r"\d+单元|(?<=-)\d+(?=-\d)")),
    ("floor", re.compile(r"-?\d+(?:层|楼)")),
    ("room", re.compile(r"(?:-)?[A-Za-z]?\d+[A-Za-z]?(?:室|房|号|铺|户)?")),
]
# Remarks people add after the place (call me, opposite, beside …): never part of a compound's name.
_REMARK = re.compile(r"(?:电联|电话联系|对面|旁边|附近|隔壁|门口|左侧|右侧|楼下|旁)$")
_DISTRICT_NEXT = re.compile(rf"-?{_NAME}{{1,5}}?(?:区|县|市|旗)(?![场委政])")
_HOUSE_AFTER_NUMBER = re.compile(r"[A-Za-z]?\d+[A-Za-z]?号(?!楼)")
_REPEATABLE = frozenset({"province", "city", "district", "devzone", "street", "community", "road"})
_RANK = {name: i for i, (name, _) in enumerate(_PATTERNS)}
_NAME_CHUNK = re.compile(r"[^\d\-]+?(?=[A-Za-z]?\d|-|$)")
_NUMBERED_PARTS = ("number", "building", "unit", "floor", "room")


@dataclass
class ParsedAddress:
    """The parts of one address; numbered parts without their markers (12幢 → building '12')."""

    province: str | None = None
    city: str | None = None
    district: str | None = None
    devzone: str | None = None
    street: str | None = None
    community: str | None = None
    road: str | None = None
    number: str | None = None
    compound: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    rest: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @property
    def filled(self) -> int:
        return sum(1 for f in fields(self) if f.name != "rest" and getattr(self, f.name))


# The rank a compound (POI name) sits at: after the road number, before the building.
_COMPOUND_RANK = _RANK["number"]


def parse(text: str) -> ParsedAddress:
    """Split an address into parts; never raises (an unreadable address comes back mostly empty).

    With the labelled corpus present (settings().address_corpus), the CRF tagger trained on it at run
    time (intake.addresses.tagger); otherwise, or with GRIDPULSE_ADDRESS_PARSER=rules, the rules."""
    from core.config import settings
    from intake.addresses import tagger as tagger_mod

    if settings().address_parser != "rules":
        t = tagger_mod.tagger()
        if t is not None:
            return from_spans(t.tag(text))
    return parse_rules(text)


# The tagger's labels (the corpus's) onto the stored parts; the rest (subpoi, subroad, assist,
# person, redundant …) go to ``rest``. A label seen twice keeps its first chunk, as the corpus's
# own convention does (a repeat is labelled redundant or sub-).
LABEL_TO_PART = {
    "prov": "province", "city": "city", "district": "district", "devzone": "devzone", "town": "street",
    "community": "community", "road": "road", "roadno": "number", "poi": "compound", "houseno": "building",
    "cellno": "unit", "floorno": "floor", "roomno": "room",
}


_ADMIN_LABELS = ("district", "town", "community")
_FINE_LABELS = frozenset({"road", "roadno", "houseno", "cellno", "floorno", "roomno"})
# A building number with a name stuck in front (二村十二幢): the name, then the number and its marker.
_NAMED_HOUSENO = re.compile(r"^([^\d]*[^\d零〇一二两三四五六七八九十百A-Za-z第])(第?[\dA-Za-z零〇一二两三四五六七八九十百]+(?:号楼|幢|栋|座|#|号)?)$")


_CN_NUM_TAIL = re.compile(r"[零〇一二两三四五六七八九十百]+$")
_CN_NUM_HEAD = re.compile(r"^[零〇一二两三四五六七八九十百]")
_ROAD_END = re.compile(r"(路|街|道|巷|弄|线|胡同|组|段)$")
_NUMBERED_LABELS = ("houseno", "cellno", "floorno", "roomno")
# A numbered village (二村, 3村) right after a compound's name and before its building is the end of the
# compound's own name (清河新寓二村, 南湖一村), not a part of it.
_NUMBERED_VILLAGE = re.compile(r"^[零〇一二两三四五六七八九十百\d]+村$")
# A name that is a place of its own kind (an administrative area, a village, an institution): not the
# first half of the street (街道) name that follows it.
_PLACE_END = re.compile(r"[省市区县旗镇乡村司局院校厂店]$")


def _rejoin(spans: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A number is never split: 二村十|二幢 → 二村|十二幢 (a chunk's trailing Chinese numerals go to the
    numbered chunk that continues them)."""
    out = list(spans)
    for i in range(1, len(out)):
        label, value = out[i]
        prev_label, prev_value = out[i - 1]
        if label in _NUMBERED_LABELS and _CN_NUM_HEAD.match(value) and prev_label not in _NUMBERED_LABELS:
            tail = _CN_NUM_TAIL.search(prev_value)
            if tail:  # 二村十|二幢 → 二村|十二幢; 六|十栋 → 六十栋
                out[i - 1] = (prev_label, prev_value[:tail.start()])
                out[i] = (label, tail.group(0) + value)
    return [(label, value) for label, value in out if value]


def repair(spans: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Structural corrections of the tagger's chunks, from how addresses are built (not from the corpus):
    a number is never split (二村十|二幢 → 二村|十二幢); a name chunk directly before an administrative
    chunk, ahead of any road or number, is the start of that administrative name (梅园|新村街道 →
    梅园新村街道); a "road" without a road's ending between a compound and its building is part of the
    compound's name (清河新寓|二村|十二幢), and so is a numbered village tagged as a sub-POI there; and a building chunk that starts with a name (二村十二幢)
    gives the name back to the compound before it."""
    spans = _rejoin(spans)
    out: list[tuple[str, str]] = []
    fine_seen = False
    for i, (label, value) in enumerate(spans):
        following = spans[i + 1][0] if i + 1 < len(spans) else None
        if (label == "road" and out and out[-1][0] == "poi" and following == "houseno"
                and not _ROAD_END.search(value)):
            out[-1] = ("poi", out[-1][1] + value)
            continue
        if (label == "subpoi" and out and out[-1][0] == "poi" and following == "houseno"
                and _NUMBERED_VILLAGE.match(value)):  # 清河新寓|二村|十二幢: 清河新寓二村 is the compound
            out[-1] = ("poi", out[-1][1] + value)
            continue
        if (label == "town" and value.endswith("街道") and out and out[-1][0] == "poi" and not fine_seen
                and len(out[-1][1]) <= 3 and not _PLACE_END.search(out[-1][1])
                and not any(lab == label for lab, _ in out)):
            value = out.pop()[1] + value
        if label == "houseno" and out and out[-1][0] in ("poi", "subpoi"):
            m = _NAMED_HOUSENO.match(value)
            if m and re.search(r"[\u4e00-\u9fff]", m.group(1)):
                prev_label, prev_value = out.pop()
                out.append((prev_label, prev_value + m.group(1)))
                value = m.group(2)
        fine_seen = fine_seen or label in _FINE_LABELS
        out.append((label, value))
    return out


def from_spans(spans: list[tuple[str, str]]) -> ParsedAddress:
    """A ParsedAddress from (label, text) chunks: names normalised, numbered parts without markers."""
    spans = repair(spans)
    out = ParsedAddress()
    rest: list[str] = []
    for label, value in spans:
        part = LABEL_TO_PART.get(label)
        if part is None or getattr(out, part) is not None:
            if label not in ("redundant",):
                rest.append(value)
            continue
        setattr(out, part, canonical_number(value) if part in _NUMBERED_PARTS else (normalise(value) or None))
    out.rest = normalise("".join(rest)) or None
    return out


def parse_rules(text: str) -> ParsedAddress:
    """The hand-written rules alone (no corpus needed); see the module docstring."""
    s = normalise(text)
    out = ParsedAddress()
    pos, last = 0, -1
    seen_values: set[str] = set()
    rest: list[str] = []
    while pos < len(s):
        if s[pos] == "-":
            pos += 1
            continue
        # A repeated administrative name (杭州市余杭区杭州市余杭区) is redundant: skip it.
        repeat = next((v for v in seen_values if len(v) > 1 and s.startswith(v, pos)), None)
        if repeat:
            pos += len(repeat)
            continue
        taken = False
        for name, pattern in _PATTERNS:
            rank = _RANK[name]
            if rank <= last:
                continue
            if name == "number" and out.road is None:
                continue
            m = pattern.match(s, pos)
            if name == "building" and not m and out.number is not None:
                m = _HOUSE_AFTER_NUMBER.match(s, pos)  # 832弄125号: the 125号 is the building
            if not m or not m.group(0):
                continue
            value = m.group(0)
            if name == "district" and value.endswith(_BAD_DISTRICT_END):
                continue
            if name == "room" and not re.search(r"\d", value):
                continue
            if name == "room" and out.road is None and out.building is None and value.endswith("号"):
                name = "number"  # 杨公堤43号: a house number after an unmarked road, not a room
            if (name == "city" and value.endswith("市") and value[:-1] not in CITIES and value[:-1] not in MUNICIPALITIES
                    and out.district is None and not _DISTRICT_NEXT.match(s, m.end())):
                name = "district"  # 义乌市, 慈溪市: a county-level city (no district follows) is the district level
            setattr(out, name, value.lstrip("-"))
            if name in _REPEATABLE:
                seen_values.add(value)
            pos, last, taken = m.end(), _RANK[name], True
            break
        if taken:
            continue
        m = _NAME_CHUNK.match(s, pos)
        chunk = m.group(0) if m and m.group(0) else s[pos]
        remark = _REMARK.search(chunk)
        if remark and remark.start() == 0:  # 电联, 对面 …: a remark, not a place
            rest.append(chunk)
            pos += len(chunk)
            continue
        if remark:
            chunk = chunk[:remark.start()]
        if out.compound is None and last <= _RANK["building"]:
            out.compound = chunk
            last = max(last, _COMPOUND_RANK)
        else:
            rest.append(chunk)
        pos += len(chunk)
    for name in _NUMBERED_PARTS:
        setattr(out, name, canonical_number(getattr(out, name)))
    out.rest = "".join(rest) or None
    return out
