"""A character CRF for Chinese addresses, trained at run time on the labelled corpus's TRAIN split.

Nothing learned from the corpus ships with the code: the corpus (NCAP, research use only, see
../shared/geodata/SOURCES.md) is read from ``settings().address_corpus`` (default
``../shared/geodata/addresses/ncap_train.csv``) and the model is trained from it on first use, then
cached under GRIDPULSE_MODEL_CACHE (default ~/.cache/gridpulse, outside the checkout) keyed by a hash of the corpus and of this module's feature set,
so later processes load it in milliseconds. Without the corpus, ``tagger()`` is None and the parser
falls back to its hand-written rules (intake.addresses.parser.parse_rules).

The tagger labels tokens (a run of ASCII digits, a run of ASCII letters, or one other character)
with the corpus's labels in BIES form (prov, city, district, devzone, town, community, road, roadno, poi,
subpoi, houseno, cellno, floorno, roomno, …). Features are the token and its neighbours (±3), their
shapes, bigrams and a trigram, and the position from either end; digits are reduced to their length
(the corpus's numbers are perturbed, and a house number's digits say nothing about its role).
Hyper-parameters were chosen on a 10 % hold-out of the TRAIN split, never on the dev split the
benchmark reports (bench/import_bench.py): ``bench/address_holdout.py`` trains on 90 % and scores the
rest, ``bench/address_errors.py`` breaks its errors down, ``bench/address_noise.py`` measures how far the
corpus agrees with itself. Three optional feature groups stay off because they scored lower there
(``FEATURES``, part of the cache key; docs/IMPORT.md has the figures): ``markers`` (the nearest marker
character left and right, 路 号 村 幢 …, beyond the ±3 window), ``gazetteer`` (names the training corpus
labels at least twice, matched longest-first per label) and ``canon`` (one convention for a repeated
administrative name in the training labels).
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FEATURE_VERSION = "2"  # 2: BIES labels
C1, C2, MAX_ITERATIONS = 0.1, 0.05, 150  # c2 on the hold-out: 0.01 → 0.688, 0.05 → 0.698, 0.1 → 0.696, 0.2 → 0.693
# Optional feature groups (part of the model's cache key); see features().
FEATURES: frozenset[str] = frozenset()
# Characters that end an address level or a place's name (general knowledge of how Chinese addresses
# are written, not read off the corpus): administrative, road, village, numbered parts, kinds of place.
MARKERS = frozenset("省市区县旗镇乡街道路巷弄组村号楼幢栋座单元层室房户苑园厦场寓司店院心厂站馆局所期门口城府庭湾坊-_#")
_MARKER_CLASS = {**dict.fromkeys("省市区县旗", "admin"), **dict.fromkeys("镇乡", "town"),
                 **dict.fromkeys("街道路巷弄组", "road"), "村": "village",
                 **dict.fromkeys("号楼幢栋座单元层室房户#", "number"), **dict.fromkeys("-_", "sep")}
_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+|.", re.S)
# An input-method slip that keeps the text's length: 撞 (collide) for 幢 (building) after a number.
_TYPO = re.compile(r"(?<=[0-9零〇一二两三四五六七八九十百])撞")


def clean(text: str) -> str:
    """NFKC character by character (full-width → ASCII, one character each, so spans stay aligned)."""
    out = []
    for c in text or "":
        n = unicodedata.normalize("NFKC", c)
        out.append(n if len(n) == 1 else c)
    return _TYPO.sub("幢", "".join(out))


def tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]


def _shape(w: str) -> str:
    if w.isdigit():
        return "D"
    if w.isascii() and w.isalpha():
        return "A"
    if "\u4e00" <= w <= "\u9fff":
        return "H"
    return "P"


def _word(w: str) -> str:
    return f"<D{min(len(w), 5)}>" if w.isdigit() else (w.lower() if w.isascii() and w.isalpha() and len(w) > 1 else w)


def features(toks: list[tuple[int, int, str]], gazetteer: dict[str, frozenset[str]] | None = None) -> list[list[str]]:
    ws = [_word(t[2]) for t in toks]
    shapes = [_shape(t[2]) for t in toks]
    n = len(ws)

    def w(j: int) -> str:
        return ws[j] if 0 <= j < n else ("<S>" if j < 0 else "</S>")

    out = []
    for i in range(n):
        f = ["b", "w=" + ws[i], "s=" + shapes[i], f"pos={min(i, 10)}", f"rpos={min(n - 1 - i, 10)}"]
        f += [f"w{d:+d}={w(i + d)}" for d in (-3, -2, -1, 1, 2, 3)]
        f += [f"s{d:+d}={shapes[i + d] if 0 <= i + d < n else 'X'}" for d in (-1, 1)]
        f += [f"bg{d:+d}={w(i + d)}|{w(i + d + 1)}" for d in (-2, -1, 0, 1)]
        f.append(f"tg={w(i - 1)}|{ws[i]}|{w(i + 1)}")
        out.append(f)
    if "markers" in FEATURES or "nextmarker" in FEATURES:
        _marker_features(toks, out, only_next="markers" not in FEATURES)
    if gazetteer:
        _gazetteer_features(toks, out, gazetteer)
    return out


_GAZ_LABELS = ("prov", "city", "district", "devzone", "town", "community", "road", "poi", "subpoi")
_GAZ_MAX = 12


def build_gazetteer(corpus: Path) -> dict[str, frozenset[str]]:
    """Names the corpus labels at least twice with one label (two characters or more), per label."""
    counts: dict[str, dict[str, int]] = {label: {} for label in _GAZ_LABELS}
    with open(corpus, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for label, value in json.loads(row["components_json"]):
                label, value = label.lower(), clean(value)
                if label in counts and 2 <= len(value) <= _GAZ_MAX:
                    counts[label][value] = counts[label].get(value, 0) + 1
    return {label: frozenset(v for v, n in c.items() if n >= 2) for label, c in counts.items()}


def _gazetteer_features(toks: list[tuple[int, int, str]], out: list[list[str]], gaz: dict[str, frozenset[str]]) -> None:
    """For each label, the longest known name starting at each character, left to right without
    overlaps: the tokens it covers get gz=LABEL|B/I/E."""
    text = "".join(t[2] for t in toks)
    starts = {}
    pos = 0
    for k, t in enumerate(toks):
        starts[pos] = k
        pos += len(t[2])
    ends = {}
    pos = 0
    for k, t in enumerate(toks):
        pos += len(t[2])
        ends[pos] = k
    for label, names in gaz.items():
        i = 0
        while i < len(text):
            hit = next((j for j in range(min(len(text), i + _GAZ_MAX), i + 1, -1) if text[i:j] in names), None)
            if hit is None or i not in starts or hit not in ends:
                i += 1
                continue
            a, b = starts[i], ends[hit]
            for k in range(a, b + 1):
                out[k].append(f"gz={label}|{'B' if k == a else 'E' if k == b else 'I'}")
            i = hit


def _bucket(d: int) -> str:
    return str(d) if d <= 3 else "4-5" if d <= 5 else "6+"


def _marker_features(toks: list[tuple[int, int, str]], out: list[list[str]], only_next: bool = False) -> None:
    """Beyond the ±3 window: the nearest marker character to the right and to the left (路, 号, 村, 幢 …)
    with its distance, the distance to the next and previous number, and which kinds of marker have
    been passed (a road, a 号 …): what the name being read is most likely to turn out to be."""
    n = len(toks)
    ws = [t[2] for t in toks]
    nxt: list[tuple[str, int] | None] = [None] * n
    cur: tuple[str, int] | None = None
    for i in range(n - 1, -1, -1):
        nxt[i] = (cur[0], cur[1] - i) if cur else None
        if ws[i] in MARKERS:
            cur = (ws[i], i)
    digit_next: list[int | None] = [None] * n
    nd = None
    for i in range(n - 1, -1, -1):
        digit_next[i] = nd - i if nd is not None else None
        if ws[i].isdigit():
            nd = i
    prev: tuple[str, int] | None = None
    pd = None
    passed: set[str] = set()
    for i in range(n):
        f = out[i]
        if nxt[i]:
            m, d = nxt[i]
            f += [f"nm={m}", f"nm={m}|{_bucket(d)}", f"nmc={_MARKER_CLASS.get(m, 'place')}|{_bucket(d)}"]
        else:
            f.append("nm=none")
        if only_next:
            continue
        if prev:
            m, j = prev
            f += [f"pm={m}", f"pm={m}|{_bucket(i - j)}"]
        else:
            f.append("pm=none")
        f.append(f"nd={_bucket(digit_next[i]) if digit_next[i] is not None else 'none'}")
        f.append(f"pd={_bucket(i - pd) if pd is not None else 'none'}")
        f += [f"passed={k}" for k in sorted(passed)]
        if ws[i] in MARKERS:
            prev = (ws[i], i)
            passed.add(_MARKER_CLASS.get(ws[i], "place"))
        if ws[i].isdigit():
            pd = i


def to_bies(bio: list[str]) -> list[str]:
    """BIO → BIES (a chunk's Single token, or its Begin, Inside and End): the chunk's end is a label of its
    own, which lets the CRF learn where a name stops (poi|subpoi) and not only where one starts."""
    out = []
    for i, tag in enumerate(bio):
        b, _, label = tag.partition("-")
        nxt = bio[i + 1] if i + 1 < len(bio) else ""
        ends = not (nxt.startswith("I-") and nxt[2:] == label)
        out.append(("S-" if ends else "B-") + label if b == "B" else ("E-" if ends else "I-") + label)
    return out


def to_bio(bies: list[str]) -> list[str]:
    return [("B-" if t[0] in "BS" else "I-") + t[2:] for t in bies]


_ADMIN = ("prov", "city", "district", "devzone", "town")


def canonical_repeats(components: list[list[str]]) -> list[list[str]]:
    """One convention for a repeated administrative name (浙江省杭州市浙江省杭州市…): the first copy
    carries the level, later copies are redundant. The corpus labels the first copy redundant in some
    addresses and the second in others; the text of the level is the same either way, so this changes
    no scored part, only what the tagger is asked to learn."""
    comps = [[label.lower(), value] for label, value in components]
    for i, (label, value) in enumerate(comps):
        if label != "redundant":
            continue
        for j in range(i + 1, len(comps)):
            if comps[j][1] == value and comps[j][0] in _ADMIN and not any(c[0] == comps[j][0] for c in comps[:i]):
                comps[i][0], comps[j][0] = comps[j][0], "redundant"
                break
    return comps


def labelled(address: str, components: list[list[str]],
             gazetteer: dict[str, frozenset[str]] | None = None) -> tuple[list[list[str]], list[str]]:
    """One corpus row as (features, BIES labels per token); a token takes its first character's label."""
    chars: list[str] = []
    if "canon" in FEATURES:
        components = canonical_repeats(components)
    for label, value in components:
        chars += [("B-" if k == 0 else "I-") + label.lower() for k in range(len(value))]
    text = clean(address)
    toks = tokens(text)
    return features(toks, gazetteer), to_bies([chars[s] for s, _, _ in toks])


def spans(text: str, labels: list[str]) -> list[tuple[str, str]]:
    """(label, text) chunks of a tagged address, in order; the text is the cleaned input's."""
    text = clean(text)
    out: list[list[Any]] = []
    for (s, e, _), tag in zip(tokens(text), labels):
        bio, _, label = tag.partition("-")
        if out and bio == "I" and out[-1][0] == label:
            out[-1][2] = e
        else:
            out.append([label, s, e])
    return [(label, text[s:e]) for label, s, e in out]


def _model_path(corpus: Path, cache_dir: Path) -> Path:
    h = hashlib.sha256(corpus.read_bytes())
    h.update(f"{FEATURE_VERSION}|{C1}|{C2}|{MAX_ITERATIONS}".encode())
    if FEATURES:
        h.update(f"|{','.join(sorted(FEATURES))}".encode())
    return cache_dir / f"address-crf-{h.hexdigest()[:16]}.crfsuite"


def train(corpus: Path, model_path: Path) -> float:
    """Train on every row of ``corpus`` (address,components_json CSV) into ``model_path``; seconds taken."""
    import pycrfsuite

    start = time.perf_counter()
    trainer = pycrfsuite.Trainer(verbose=False)
    gaz = build_gazetteer(corpus) if "gazetteer" in FEATURES else None
    with open(corpus, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            trainer.append(*labelled(row["address"], json.loads(row["components_json"]), gaz))
    trainer.set_params({"c1": C1, "c2": C2, "max_iterations": MAX_ITERATIONS, "feature.possible_transitions": True})
    model_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=model_path.parent, suffix=".part")
    os.close(fd)
    try:
        trainer.train(tmp)
        os.replace(tmp, model_path)  # atomic: a concurrent process sees the whole model or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return time.perf_counter() - start


class Tagger:
    def __init__(self, model_path: Path, gazetteer: dict[str, frozenset[str]] | None = None) -> None:
        self.gazetteer = gazetteer
        import pycrfsuite

        self.model_path = model_path
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(model_path))
        self._lock = threading.Lock()  # a crfsuite tagger is not safe to share between threads

    def tag(self, text: str) -> list[tuple[str, str]]:
        toks = tokens(clean(text))
        if not toks:
            return []
        with self._lock:
            labels = self._tagger.tag(features(toks, self.gazetteer))
        return spans(text, to_bio(labels))


_cached: dict[tuple[str, str], Tagger | None] = {}
_lock = threading.Lock()


def tagger(corpus: Path | None = None, cache_dir: Path | None = None) -> Tagger | None:
    """The tagger trained on ``corpus`` (default: settings().address_corpus), or None without a corpus
    or without python-crfsuite. Trains on first use (5–6 minutes on a busy 2-core machine), then loads from the cache."""
    from core.config import settings

    corpus = corpus if corpus is not None else settings().address_corpus
    cache_dir = cache_dir or settings().model_cache
    key = (str(corpus), str(cache_dir))
    with _lock:
        if key in _cached:
            return _cached[key]
        result: Tagger | None = None
        if corpus is not None and Path(corpus).is_file():
            try:
                import pycrfsuite  # noqa: F401
            except ImportError:
                log.warning("python-crfsuite is not installed: the address parser uses its rules only")
            else:
                path = _model_path(Path(corpus), cache_dir)
                if not path.exists():
                    log.warning("training the address tagger on %s (once; cached as %s)", corpus, path)
                    seconds = train(Path(corpus), path)
                    log.warning("address tagger trained in %.0f s", seconds)
                result = Tagger(path, build_gazetteer(Path(corpus)) if "gazetteer" in FEATURES else None)
        _cached[key] = result
        return result
