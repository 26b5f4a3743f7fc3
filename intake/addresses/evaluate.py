"""Scoring the parser on a labelled corpus (NCAP's address,components_json CSV), per part and whole-address.

NCAP's labels are mapped onto the parts the address base stores (prov → province, town → street,
roadno → number, poi → compound, houseno → building, cellno → unit, floorno → floor, roomno → room);
labels with no stored part (devzone, subpoi, subroad, assist, redundant, person …) are not scored.
Numbered parts are compared without markers (12号楼 = 12), names exactly. An address counts as
right only if every scored part is right, including parts the parser must leave empty.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from intake.addresses.normalise import canonical_number, normalise
from intake.addresses.parser import ParsedAddress, parse

LABEL_TO_PART = {
    "prov": "province", "city": "city", "district": "district", "town": "street", "community": "community",
    "road": "road", "roadno": "number", "poi": "compound", "houseno": "building", "cellno": "unit",
    "floorno": "floor", "roomno": "room",
}
PARTS = tuple(dict.fromkeys(LABEL_TO_PART.values()))
_NUMBERED = {"number", "building", "unit", "floor", "room"}


def gold_parts(components: list[list[str]]) -> dict[str, str | None]:
    gold: dict[str, str | None] = dict.fromkeys(PARTS)
    for label, value in components:
        part = LABEL_TO_PART.get(label)
        if part and gold[part] is None:  # the first occurrence; repeats are labelled redundant anyway
            gold[part] = canonical_number(value) if part in _NUMBERED else normalise(value)
    return gold


def evaluate(path: Path | str, *, limit: int | None = None,
             parser: Callable[[str], ParsedAddress] = parse) -> dict[str, object]:
    """Whole-address and per-part accuracy of ``parser`` (default: parse, i.e. the tagger when its
    corpus is there) on a labelled CSV. Score a split the tagger was not trained on."""
    per_part = dict.fromkeys(PARTS, 0)
    whole = total = 0
    with open(path, encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if limit is not None and i >= limit:
                break
            gold = gold_parts(json.loads(row["components_json"]))
            got = parser(row["address"]).as_dict()
            ok = True
            for part in PARTS:
                if (got.get(part) or None) == gold[part]:
                    per_part[part] += 1
                else:
                    ok = False
            whole += ok
            total += 1
    return {
        "addresses": total,
        "whole_address": round(whole / total, 4) if total else 0.0,
        "per_part": {p: round(n / total, 4) for p, n in per_part.items()} if total else {},
    }
