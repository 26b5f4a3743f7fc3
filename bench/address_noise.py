"""How consistent is the labelled address corpus with itself? A ceiling for any parser scored on it.

    .venv/bin/python -m bench.address_noise

Reads ../shared/geodata/addresses/ncap_{train,dev}.csv at run time (nothing of it is kept) and prints:

- exact duplicates: the same address string labelled more than once, and how often the labellings differ
  (all labels, and only the parts the benchmark scores, i.e. evaluate.gold_parts);
- dev addresses whose exact string is in train, and how many of those train labels differently
  (a parser that memorised train perfectly would get those wrong);
- the same two with the numbers masked (the corpus's numbers are perturbed, so repeats rarely keep their
  digits): addresses identical but for their numbers whose scored parts are labelled differently;
- identical contexts: every character's window of ±K characters (K = 4 here: nine characters) that occurs in
  train more than once, and how often its centre character's label (mapped to the scored parts) differs;
  the share of dev addresses with a character whose window train has seen only with another label;
- segments: scored chunks of dev (e.g. a compound's text) that train contains as a chunk with another
  label, or not as a chunk at all;
- repeated administrative names: how often the first copy, and how often a later one, is labelled redundant;
- the oracle: the gold labels pushed through the tagger's tokens, ``from_spans`` (repairs included) and the
  benchmark's scoring. What it loses is lost by the mapping and scoring, not by the model.

The last line printed is one JSON object. It reads the whole corpus in about two seconds, so
``--quick`` (accepted like every benchmark's) runs the same.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import re
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script or with -m

from intake.addresses import tagger as T
from intake.addresses.evaluate import LABEL_TO_PART, PARTS, gold_parts

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "geodata" / "addresses"
K = 4


def rows(split: str) -> list[tuple[str, list[list[str]]]]:
    with open(SHARED / f"ncap_{split}.csv", encoding="utf-8") as fh:
        return [(r["address"], json.loads(r["components_json"])) for r in csv.DictReader(fh)]


def char_labels(comps: list[list[str]]) -> list[str]:
    """The scored part of each character ('-' for labels the benchmark does not score), with B/I."""
    out = []
    for label, value in comps:
        part = LABEL_TO_PART.get(label.lower(), "-")
        out += [("B-" if k == 0 else "I-") + part for k in range(len(value))]
    return out


def key(comps: list[list[str]]) -> str:
    return json.dumps([[lab.lower(), v] for lab, v in comps], ensure_ascii=False)


def gold_key(comps: list[list[str]]) -> str:
    return json.dumps(gold_parts([[lab.lower(), v] for lab, v in comps]), ensure_ascii=False, sort_keys=True)


def _wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    if not n:
        return []
    p = k / n
    centre, half = p + z * z / (2 * n), z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return [round((centre - half) / (1 + z * z / n), 3), round((centre + half) / (1 + z * z / n), 3)]


def _q(agreement: float) -> float:
    """q with q² + (1 − q)² = agreement, q ≥ 0.5."""
    return round(0.5 + max(2 * agreement - 1, 0.0) ** 0.5 / 2, 3)


def _mask(text: str) -> str:
    return re.sub(r"[0-9]+", "0", text)


def _masked_gold(comps: list[list[str]]) -> str:
    return _mask(gold_key(comps))


def windows(text: str) -> list[str]:
    pad = "^" * K + text + "$" * K
    return [pad[i:i + 2 * K + 1] for i in range(len(text))]


def oracle(data: list[tuple[str, list[list[str]]]]) -> tuple[float, Counter]:
    from intake.addresses.parser import from_spans

    bad, parts = 0, Counter()
    for text, comps in data:
        chars = []
        for label, value in comps:
            chars += [("B-" if k == 0 else "I-") + label.lower() for k in range(len(value))]
        toks = T.tokens(T.clean(text))
        labels = T.to_bio(T.to_bies([chars[s] for s, _, _ in toks]))
        got = from_spans(T.spans(text, labels)).as_dict()
        gold = gold_parts([[lab.lower(), v] for lab, v in comps])
        diff = [p for p in PARTS if (got.get(p) or None) != gold[p]]
        bad += bool(diff)
        parts.update(diff)
    return 1 - bad / len(data), parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the same run: it is quick already")
    parser.parse_args()
    train, dev = rows("train"), rows("dev")
    out: dict[str, object] = {"train": len(train), "dev": len(dev)}

    # 1. exact duplicates inside train
    by_text: dict[str, list] = defaultdict(list)
    for text, comps in train:
        by_text[text].append(comps)
    dup = {t: c for t, c in by_text.items() if len(c) > 1}
    out["train_duplicate_strings"] = len(dup)
    out["train_duplicate_rows"] = sum(len(c) for c in dup.values())
    out["train_duplicates_labelled_differently"] = sum(len({key(x) for x in c}) > 1 for c in dup.values())
    out["train_duplicates_scored_parts_differ"] = sum(len({gold_key(x) for x in c}) > 1 for c in dup.values())

    # 2. dev strings seen in train
    seen = [(t, c) for t, c in dev if t in by_text]
    out["dev_strings_in_train"] = len(seen)
    out["dev_in_train_labelled_differently"] = sum(all(key(c) != key(x) for x in by_text[t]) for t, c in seen)
    out["dev_in_train_scored_parts_differ"] = sum(all(gold_key(c) != gold_key(x) for x in by_text[t]) for t, c in seen)

    # 2b. the same, numbers masked (the corpus's numbers are perturbed, so a repeated address rarely
    # repeats its digits): identical text but for its numbers, labelled differently in the scored parts
    by_masked: dict[str, list] = defaultdict(list)
    for text, comps in train:
        by_masked[_mask(text)].append(comps)
    groups = {t: c for t, c in by_masked.items() if len(c) > 1}
    out["train_masked_duplicate_groups"] = len(groups)
    out["train_masked_duplicate_rows"] = sum(len(c) for c in groups.values())
    out["train_masked_duplicates_scored_parts_differ"] = sum(len({_masked_gold(x) for x in c}) > 1 for c in groups.values())
    seen = [(t, c) for t, c in dev if _mask(t) in by_masked]
    out["dev_masked_in_train"] = len(seen)
    out["dev_masked_in_train_scored_parts_differ_from_every_copy"] = sum(
        all(_masked_gold(c) != _masked_gold(x) for x in by_masked[_mask(t)]) for t, c in seen)

    # Pooled: the chance that two labellings of the same address (numbers aside) agree on every scored
    # part, the ceiling of a whole-address score for a parser that labels consistently (Wilson 95 %).
    n = len(groups) + len(seen)
    agree = n - out["train_masked_duplicates_scored_parts_differ"] - out["dev_masked_in_train_scored_parts_differ_from_every_copy"]
    out["labelling_agreement_whole_address"] = round(agree / n, 3) if n else None
    out["labelling_agreement_wilson95"] = _wilson(agree, n)
    # If each labelling follows the majority convention with probability q, two agree with probability
    # about q² + (1 − q)²: q is then the expected whole-address score of a parser that always follows it.
    out["majority_convention_ceiling"] = [_q(a) for a in [agree / n] + out["labelling_agreement_wilson95"]] if n else None

    # 3. identical ±K windows
    win: dict[str, Counter] = defaultdict(Counter)
    for text, comps in train:
        for w, lab in zip(windows(text), char_labels(comps)):
            win[w][lab] += 1
    repeated = {w: c for w, c in win.items() if sum(c.values()) > 1}
    chars_rep = sum(sum(c.values()) for c in repeated.values())
    minority = sum(sum(c.values()) - max(c.values()) for c in repeated.values())
    out["train_windows_repeated"] = len(repeated)
    out["train_windows_conflicting"] = sum(len(c) > 1 for c in repeated.values())
    out["train_chars_in_repeated_windows"] = chars_rep
    out["train_chars_minority_label_in_repeated_windows"] = minority
    dev_conflict = dev_conflict_any = 0
    for text, comps in dev:
        hits = [(win[w], lab) for w, lab in zip(windows(text), char_labels(comps)) if w in win]
        dev_conflict += any(lab not in c for c, lab in hits)
        dev_conflict_any += any(c.most_common(1)[0][0] != lab for c, lab in hits)
    out["dev_addresses_with_window_seen_only_with_other_label"] = dev_conflict
    out["dev_addresses_with_window_majority_other_label"] = dev_conflict_any

    # 4. scored segments of dev as chunks of train
    chunk_parts: dict[str, Counter] = defaultdict(Counter)
    for _, comps in train:
        for label, value in comps:
            chunk_parts[value][LABEL_TO_PART.get(label.lower(), "-")] += 1
    seg_other = Counter()
    addr_seg_other = 0
    for _, comps in dev:
        hit = False
        for label, value in comps:
            part = LABEL_TO_PART.get(label.lower())
            if part and value in chunk_parts and part not in chunk_parts[value] and not value.isdigit():
                seg_other[part] += 1
                hit = True
        addr_seg_other += hit
    out["dev_addresses_with_a_name_chunk_train_labels_only_otherwise"] = addr_seg_other
    out["dev_name_chunks_train_labels_only_otherwise_by_part"] = dict(seg_other.most_common())

    # 5. a repeated administrative name (浙江省杭州市浙江省杭州市…): which copy the corpus calls redundant
    conv = Counter()
    for _, comps in train:
        labels_of: dict[str, list[str]] = defaultdict(list)
        for label, value in comps:
            labels_of[value].append(label.lower())
        for labels in labels_of.values():
            if len(labels) > 1 and "redundant" in labels and any(lab in ("prov", "city", "district", "town") for lab in labels):
                conv["first_copy_redundant" if labels[0] == "redundant" else "later_copy_redundant"] += 1
    out["train_repeated_admin_names"] = dict(conv)

    # 6. the oracle
    for split, data in (("train", train), ("dev", dev)):
        acc, parts = oracle(data)
        out[f"oracle_{split}_whole_address"] = round(acc, 4)
        out[f"oracle_{split}_parts_lost"] = dict(parts.most_common())

    for k, v in out.items():
        print(f"{k}: {v}")
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
