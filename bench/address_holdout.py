"""Tuning harness for the address tagger: train on 90 % of ncap_train, score the other 10 % (never dev).

    .venv/bin/python -m bench.address_holdout [--tag NAME] [--quick]

The split is fixed (every row whose position in the file is 0 mod 10 is held out), the two halves are
written to GRIDPULSE_MODEL_CACHE (outside the checkout) and the model trained on the 90 % is cached
there too. The last line printed is one JSON object (whole-address and per-part hold-out accuracy).
``--quick`` trains on 800 rows of the 90 % and scores 300 held-out rows: it checks the harness in
under a minute; its figure says nothing about the tagger.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "geodata" / "addresses"


QUICK_ROWS = (800, 300)  # training rows, held-out rows of a --quick run


def split(cache: Path, quick: bool = False) -> tuple[Path, Path]:
    """(train 90 %, hold-out 10 %) of ncap_train.csv as CSV files under ``cache`` (the first
    QUICK_ROWS of each with ``quick``)."""
    rows = list(csv.DictReader(open(SHARED / "ncap_train.csv", encoding="utf-8")))
    cache.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick else ""
    paths = cache / f"holdout-train90{suffix}.csv", cache / f"holdout-hold10{suffix}.csv"
    for path, keep, limit in zip(paths, (lambda i: i % 10 != 0, lambda i: i % 10 == 0), QUICK_ROWS):
        if not path.exists():
            chosen = [r for i, r in enumerate(rows) if keep(i)]
            with open(path, "w", encoding="utf-8", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=["idx", "address", "components_json"])
                w.writeheader()
                w.writerows(chosen[:limit] if quick else chosen)
    return paths


def main() -> None:
    from core.config import settings
    from intake.addresses import tagger as tagger_mod
    from intake.addresses.evaluate import evaluate
    from intake.addresses.parser import from_spans

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag", default="")
    ap.add_argument("--features", default=None, help="comma-separated optional feature groups (tagger.FEATURES)")
    ap.add_argument("--c1", type=float, default=None)
    ap.add_argument("--c2", type=float, default=None)
    ap.add_argument("--quick", action="store_true", help="a small run that checks the harness (see above)")
    args = ap.parse_args()
    if args.features is not None:
        tagger_mod.FEATURES = frozenset(f for f in args.features.split(",") if f)
    if args.c1 is not None:
        tagger_mod.C1 = args.c1
    if args.c2 is not None:
        tagger_mod.C2 = args.c2
    train90, hold = split(settings().model_cache, args.quick)
    start = time.perf_counter()
    t = tagger_mod.tagger(train90)
    ready = time.perf_counter() - start
    r = evaluate(hold, parser=lambda text: from_spans(t.tag(text)))
    r.update(features=sorted(tagger_mod.FEATURES), c1=tagger_mod.C1, c2=tagger_mod.C2, tag=args.tag, ready_s=round(ready, 1), model=t.model_path.name)
    print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
