"""Text clean-up before parsing: what people type is not what the parser's rules expect.

Full-width digits and letters (１２３, ＡＢ) become ASCII; Chinese numerals in front of an address
marker become digits (十二幢 → 12幢, 三单元 → 3单元, 第五层 → 5层); the common input-method typo 撞
for 幢 after a number is corrected; spaces and separators go.
"""
from __future__ import annotations

import re
import unicodedata

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL = "零〇一二两三四五六七八九十百千"
# Markers after which a Chinese numeral is a number, not part of a name (清河新寓二村 keeps its 二).
_MARKERS = "号幢栋撞单层楼室房座弄组户"
_CN_NUMBER = re.compile(rf"第?([{_NUMERAL}]+)(?=[{_MARKERS}])")
_TYPO_BUILDING = re.compile(r"(?<=[0-9A-Za-z])撞")
_DROP = re.compile(r"[\s,，。;；:：、\"'“”‘’()（）\[\]【】<>《》]+")


def chinese_to_int(text: str) -> int | None:
    """十二 → 12, 二十三 → 23, 一百零五 → 105, 三 → 3, 一二〇一 → 1201 (digit by digit); None if not a numeral."""
    if not text or any(c not in _DIGITS and c not in _UNITS for c in text):
        return None
    if not any(c in _UNITS for c in text):
        return int("".join(str(_DIGITS[c]) for c in text))
    total, current = 0, 0
    for c in text:
        if c in _DIGITS:
            current = _DIGITS[c]
        else:
            total += (current or 1) * _UNITS[c]
            current = 0
    return total + current


def normalise(text: str) -> str:
    """The address as the parser's rules expect it (NFKC, numerals as digits, typos fixed, no separators)."""
    text = unicodedata.normalize("NFKC", text or "")
    text = text.replace("－", "-").replace("—", "-").replace("_", "")
    text = _DROP.sub("", text)
    text = _CN_NUMBER.sub(lambda m: str(chinese_to_int(m.group(1))), text)
    return _TYPO_BUILDING.sub("幢", text)


_NUMBER_MARKS = re.compile(r"(号楼|单元|号|幢|栋|座|层|楼|室|房|弄|铺|户|#)$")


def canonical_number(value: str | None) -> str | None:
    """A building/unit/floor/room/number value without its marker: '12号楼' → '12', '三单元' → '3'."""
    if value is None:
        return None
    text = normalise(value)
    for _ in range(2):
        text = _NUMBER_MARKS.sub("", text)
    return text or None
