"""Matching non-standard addresses (as people write them) to standard ones, with a score.

The score is a weighted agreement of parsed parts, weighted by how much each part narrows the
place down: a room or building number is worth more than a district name. Administrative parts a
person left out (no district, no street; the road when the compound is given, or the other way
round) cost nothing, because people omit them all the time; fine
parts that differ, or that one side has and the other lacks, count against the match, because
"3幢" and "3幢2单元501室" are different places. Names are compared with a character-sequence ratio
so that 清河新寓二村 and 清河新寓2村 (or a dropped 小区) still agree.

A score at or above the threshold links the address (address.standard_id); below it, the address
waits in the review queue (table address_review, intake.addresses.review) with its best candidate,
for a person to accept, correct or reject.
"""
from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.addresses.parser import ParsedAddress, parse
from blockdata.models import Address, AddressKind

WEIGHTS: dict[str, float] = {
    "district": 0.5, "street": 0.5, "community": 0.5, "road": 1.5, "number": 1.5, "compound": 2.0,
    "building": 2.0, "unit": 1.5, "floor": 0.5, "room": 2.0,
}
ADMIN_PARTS = ("district", "street", "community")
NUMBER_PARTS = ("number", "building", "unit", "floor", "room")
DEFAULT_THRESHOLD = 0.85
_GENERIC = re.compile(r"(小区|花园|家园|公寓|新村|社区|街道|大厦)$")


def _name_similarity(a: str, b: str) -> float:
    a, b = _GENERIC.sub("", a) or a, _GENERIC.sub("", b) or b
    if a == b:
        return 1.0
    if a in b or b in a:
        return 0.9
    return difflib.SequenceMatcher(None, a, b).ratio()


def _omittable(messy: ParsedAddress, part: str) -> bool:
    """Parts people leave out without meaning another place: administrative levels, and one of the two
    locators (road + number, or the compound) when the other is given."""
    if part in ADMIN_PARTS:
        return True
    if part in ("road", "number"):
        return messy.compound is not None
    if part == "compound":
        return messy.road is not None and messy.number is not None
    return False


def score(messy: ParsedAddress, standard: ParsedAddress) -> float:
    """0–1 agreement of two parsed addresses (see the module docstring for the rules)."""
    total = got = 0.0
    for part, weight in WEIGHTS.items():
        a, b = getattr(messy, part), getattr(standard, part)
        if a is None and b is None:
            continue
        if a is None and _omittable(messy, part):
            continue  # omitted by the writer: no evidence either way
        total += weight
        if a is None or b is None:
            continue
        got += weight * (float(a == b) if part in NUMBER_PARTS else _name_similarity(a, b))
    return got / total if total else 0.0


@dataclass(frozen=True)
class Match:
    standard_id: int | None
    standard_code: str | None
    score: float


@dataclass(frozen=True)
class _Entry:
    id: int
    code: str
    parts: ParsedAddress


def parts_of(address: Address) -> ParsedAddress:
    return ParsedAddress(
        district=address.district, street=address.street, road=address.road, number=address.number,
        compound=address.compound, building=address.building, unit=address.unit, floor=address.floor, room=address.room,
    )


class AddressIndex:
    """Standard addresses keyed by their most selective parts, so a match compares a few candidates."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._by_key: dict[tuple, list[int]] = defaultdict(list)

    def add(self, id_: int, code: str, parts: ParsedAddress) -> None:
        k = len(self._entries)
        self._entries.append(_Entry(id_, code, parts))
        for key in self._keys(parts):
            self._by_key[key].append(k)

    @staticmethod
    def _keys(p: ParsedAddress) -> list[tuple]:
        keys = []
        if p.road and p.number:
            keys.append(("rn", p.road, p.number))
        if p.compound:
            keys.append(("c", _GENERIC.sub("", p.compound)[:2]))
        if p.building:
            keys.append(("b", p.building, p.unit, p.room))
        if p.road:
            keys.append(("r", p.road))
        return keys

    @classmethod
    def from_session(cls, session: Session) -> "AddressIndex":
        index = cls()
        for a in session.scalars(select(Address).where(Address.kind == AddressKind.standard)):
            index.add(a.id, a.code, parts_of(a))
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def best(self, messy: ParsedAddress) -> Match:
        ks = {k for key in self._keys(messy) for k in self._by_key.get(key, [])}
        if not ks and len(self._entries) <= 5000:
            ks = set(range(len(self._entries)))  # nothing selective in common: compare with all (small bases)
        best_k, best_score = None, 0.0
        for k in ks:
            s = score(messy, self._entries[k].parts)
            if s > best_score:
                best_k, best_score = k, s
        if best_k is None:
            return Match(None, None, 0.0)
        entry = self._entries[best_k]
        return Match(entry.id, entry.code, round(best_score, 4))


def match_text(index: AddressIndex, text: str) -> Match:
    return index.best(parse(text))
