"""Error analysis of the tagger on the 10 % hold-out of ncap_train (bench/address_holdout.py's split).

    .venv/bin/python -m bench.address_errors [--examples N] [--quick]

Per scored part: missed (gold set, parse empty), spurious (gold empty, parse set) and wrong (both set,
differ; 'boundary' when one contains the other); the character-level confusions between the corpus's
labels (gold → tagged); whether the repairs help; and the hold-out oracle (gold labels → from_spans).
The last line printed is one JSON object (the counts, without the examples).
``--quick`` uses address_holdout's small split (a check of the script, not of the tagger).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script or with -m

from bench.address_holdout import split
from core.config import settings
from intake.addresses import tagger as T
from intake.addresses.evaluate import PARTS, gold_parts
from intake.addresses.normalise import normalise
from intake.addresses.parser import from_spans


def _poi_region(spans: list) -> str | None:
    """The first poi chunk and the subpoi chunks right after it, as one text."""
    for i, (label, value) in enumerate(spans):
        if label == "poi":
            for label2, value2 in spans[i + 1:]:
                if label2 != "subpoi":
                    break
                value += value2
            return normalise(value)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the small split of address_holdout --quick")
    args = ap.parse_args()
    train90, hold = split(settings().model_cache, args.quick)
    t = T.tagger(train90)
    kinds: Counter = Counter()
    confusion: Counter = Counter()
    examples: dict[str, list] = {}
    whole = whole_norepair = n = 0
    wrong_parts_per_address: Counter = Counter()
    poi_split = only_compound = 0
    import intake.addresses.parser as P
    for row in csv.DictReader(open(hold, encoding="utf-8")):
        comps = [[lab.lower(), v] for lab, v in json.loads(row["components_json"])]
        text = row["address"]
        gold = gold_parts(comps)
        spans = t.tag(text)
        got = from_spans(spans).as_dict()
        saved, P.repair = P.repair, lambda s: s
        try:
            got_nr = from_spans(spans).as_dict()
        finally:
            P.repair = saved
        n += 1
        bad = [p for p in PARTS if (got.get(p) or None) != gold[p]]
        whole += not bad
        if bad == ["compound"]:
            only_compound += 1
            poi_split += _poi_region(comps) == _poi_region(P.repair(spans))
        whole_norepair += all((got_nr.get(p) or None) == gold[p] for p in PARTS)
        wrong_parts_per_address[len(bad)] += 1
        for p in bad:
            g, v = gold[p], got.get(p) or None
            kind = "missed" if v is None else "spurious" if g is None else (
                "boundary" if (g in v or v in g) else "wrong")
            kinds[(p, kind)] += 1
            examples.setdefault(f"{p}/{kind}", []).append((text, g, v))
        # character-level label confusion (corpus labels, not yet mapped)
        gl = []
        for lab, v in comps:
            gl += [lab] * len(v)
        tl = []
        for lab, v in spans:
            tl += [lab] * len(v)
        if len(gl) == len(tl):
            confusion.update((a, b) for a, b in zip(gl, tl) if a != b)
    print(f"hold-out {n}: whole {whole / n:.4f}, without repair {whole_norepair / n:.4f}")
    print(f"only the compound wrong: {only_compound}, of which the POI and its sub-POIs cover the same text "
          f"(only where poi ends and subpoi begins differs): {poi_split}")
    print("wrong parts per address:", dict(sorted(wrong_parts_per_address.items())))
    for p in PARTS:
        row = {k: kinds[(p, k)] for k in ("missed", "spurious", "boundary", "wrong") if kinds[(p, k)]}
        if row:
            print(f"  {p:10s} {sum(row.values()):4d} {row}")
    print("top character confusions (gold → tagged):", confusion.most_common(25))
    for key, ex in sorted(examples.items(), key=lambda kv: -len(kv[1])):
        for e in ex[:args.examples]:
            print(f"  [{key}] {e[0]}  gold={e[1]!r} got={e[2]!r}")
    print(json.dumps({"benchmark": "address_errors", "holdout": n, "whole": round(whole / n, 4),
                      "whole_without_repair": round(whole_norepair / n, 4), "only_compound_wrong": only_compound,
                      "poi_subpoi_split_only": poi_split,
                      "errors": {f"{p}/{k}": kinds[(p, k)] for p in PARTS for k in ("missed", "spurious", "boundary", "wrong")
                                 if kinds[(p, k)]}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
