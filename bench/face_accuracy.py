"""Face accuracy on real photos: genuine/impostor similarity distributions, FAR and FRR at candidate
thresholds, and open-set 1:N (enrolled vs not-enrolled people) with the bridge's threshold and margin.

`--faces DIR` holds `<identity>/<photo>.jpg` (default ../shared/faces: 59 people, 274 photos).
`--quick` uses a quarter of the identities. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from credentials.face_pipeline import BadImage, FacePipeline, FaceRejected, decode  # noqa: E402
from gate_bridge.matching import MARGIN, THRESHOLD, Gallery, accepted  # noqa: E402

THRESHOLDS = (0.30, 0.35, 0.40, 0.45, 0.50)


def embed_all(pipeline: FacePipeline, faces: Path, quick: bool) -> tuple[list[str], np.ndarray, int, float]:
    people = sorted(d for d in faces.iterdir() if d.is_dir())
    if quick:
        people = people[::4]
    labels, vectors, rejected, seconds = [], [], 0, 0.0
    for person in people:
        for photo in sorted(person.glob("*.jpg")):
            start = time.perf_counter()
            try:
                vectors.append(pipeline.template(decode(photo.read_bytes())).embedding)
                labels.append(person.name)
            except (FaceRejected, BadImage):
                rejected += 1  # refused by the quality gates or not a JPEG/PNG (one test photo is WebP)
            seconds += time.perf_counter() - start
    return labels, np.asarray(vectors), rejected, seconds / max(1, len(vectors) + rejected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", default=str(ROOT.parent / "shared" / "faces"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    pipeline = FacePipeline()
    labels, vectors, rejected, per_photo_s = embed_all(pipeline, Path(args.faces), args.quick)
    sims = vectors @ vectors.T
    same = np.equal.outer(labels, labels)
    upper = np.triu(np.ones_like(same, dtype=bool), 1)
    genuine, impostor = sims[same & upper], sims[~same & upper]
    rows = []
    for t in THRESHOLDS:
        rows.append({"threshold": t, "far": float((impostor >= t).mean()), "frr": float((genuine < t).mean()),
                     "false_accepts": int((impostor >= t).sum())})
        print(f"threshold {t:.2f}: FAR {rows[-1]['far']:.2e} ({rows[-1]['false_accepts']} of {len(impostor)})  FRR {rows[-1]['frr']:.3f}")
    # Open set: enrol the first photo of every other person; probe with every other photo of everyone.
    names = sorted(set(labels))
    enrolled = set(names[::2])
    first = {}
    for i, name in enumerate(labels):
        first.setdefault(name, i)
    gallery = Gallery(np.array([names.index(n) for n in enrolled]), np.stack([vectors[first[n]] for n in enrolled]))
    hits = misses = wrong = false_accepts = probes_out = 0
    for i, name in enumerate(labels):
        if i == first[name]:
            continue
        match = gallery.best(vectors[i])
        ok = accepted(match, THRESHOLD, MARGIN)
        if name in enrolled:
            if ok and names[match.person_id] == name:
                hits += 1
            elif ok:
                wrong += 1
            else:
                misses += 1
        else:
            probes_out += 1
            false_accepts += int(ok)
    enrolled_probes = hits + misses + wrong
    print(f"open-set 1:N (threshold {THRESHOLD}, margin {MARGIN}): {len(enrolled)} enrolled; {enrolled_probes} probes of enrolled "
          f"people: {hits} right, {wrong} wrong person, {misses} refused; {probes_out} probes of others: {false_accepts} let in")
    print(f"{len(vectors)} photos embedded, {rejected} refused (quality gates or format), {per_photo_s * 1000:.0f} ms per photo")
    print(json.dumps({
        "benchmark": "face_accuracy", "photos": len(vectors), "identities": len(names), "quality_rejected": rejected,
        "genuine_pairs": int(len(genuine)), "impostor_pairs": int(len(impostor)),
        "genuine_median": round(float(np.median(genuine)), 3), "impostor_max": round(float(impostor.max()), 3),
        "thresholds": rows, "open_set": {"threshold": THRESHOLD, "margin": MARGIN, "hits": hits, "wrong": wrong,
                                         "refused": misses, "outsider_probes": probes_out, "outsiders_let_in": false_accepts},
        "ms_per_photo": round(per_photo_s * 1000, 1),
    }))


if __name__ == "__main__":
    main()
