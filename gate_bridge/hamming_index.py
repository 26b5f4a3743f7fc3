"""1:N over the city population library (10⁵–10⁶ templates) within a few milliseconds, on the CPU.

Exact search reads the whole float matrix per query (2 GB at 10⁶): memory-bound, ~300 ms here. This
index keeps each template's 512 signs as 64 bytes (SimHash: the Hamming distance between sign vectors
estimates the angle), scans those (64 MB at 10⁶) on both cores, and re-ranks a shortlist exactly with
the float16 templates. For a genuine query the true match's Hamming distance is far below any
unrelated template's (cos 0.35 → ~194 of 512 bits, unrelated → 256 ± 11), so with a shortlist of 256 the
best match found is the exact search's (bench/gate_bench.py measures the recall against exact search).
Scores returned are exact cosines (float16 storage: ±0.001), so thresholds and margins mean the same.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gate_bridge.matching import DIM, Match, best_of, normalise

SHORTLIST = 256
_WORDS = DIM // 64
_BLOCK = 32_768  # rows per pass: the block's words and counts stay in cache while its 8 words are summed
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hamming")  # numpy releases the GIL


def _signs(matrix: np.ndarray) -> np.ndarray:
    """(n, 512) float → (8, n) uint64: one row per 64-bit word, so each pass streams one array."""
    packed = np.packbits(np.asarray(matrix) > 0, axis=-1)
    return np.ascontiguousarray(packed.view(np.uint64).reshape(-1, _WORDS).T)


class HammingGallery:
    """The same interface as matching.Gallery (``best``, ``len``, ``person_ids``)."""

    def __init__(self, person_ids: np.ndarray, matrix: np.ndarray, shortlist: int = SHORTLIST) -> None:
        matrix = normalise(np.asarray(matrix, dtype=np.float32))
        self.person_ids = np.asarray(person_ids, dtype=np.int64)
        self.vectors = matrix.astype(np.float16)
        self.words = _signs(matrix)
        self.shortlist = shortlist
        n = len(self.person_ids)
        self._halves = [(0, n // 2), (n // 2, n)] if n >= 4 * _BLOCK else [(0, n)]

    def __len__(self) -> int:
        return len(self.person_ids)

    def _count(self, query_words: np.ndarray, start: int, stop: int, distance: np.ndarray) -> None:
        """Hamming distances of rows [start, stop) into ``distance``, one cache-sized block at a time."""
        scratch = np.empty(_BLOCK, dtype=np.uint64)
        counts = np.empty(_BLOCK, dtype=np.uint8)
        for b0 in range(start, stop, _BLOCK):
            b1 = min(b0 + _BLOCK, stop)
            m = b1 - b0
            acc = distance[b0:b1]
            acc[:] = 0
            for w in range(_WORDS):
                np.bitwise_xor(self.words[w, b0:b1], query_words[w], out=scratch[:m])
                np.bitwise_count(scratch[:m], out=counts[:m])
                np.add(acc, counts[:m], out=acc)

    def candidates(self, embedding: np.ndarray) -> np.ndarray:
        """The rows nearest in Hamming distance: every row at or below the distance that the
        ``shortlist``-th nearest has (a histogram of 513 bins instead of a partial sort)."""
        query_words = _signs(embedding[None, :])[:, 0]
        distance = np.empty(len(self), dtype=np.uint16)
        if len(self._halves) == 1:
            self._count(query_words, *self._halves[0], distance)
        else:
            list(_POOL.map(lambda h: self._count(query_words, *h, distance), self._halves))
        if len(self) <= self.shortlist:
            return np.arange(len(self))
        cumulative = np.cumsum(np.bincount(distance, minlength=DIM + 1))
        cutoff = int(np.searchsorted(cumulative, self.shortlist))
        return np.flatnonzero(distance <= cutoff)

    def best(self, embedding: np.ndarray) -> Match:
        if not len(self):
            return Match(None, 0.0, 0.0)
        query = normalise(np.asarray(embedding, dtype=np.float32))
        shortlist = self.candidates(query)
        scores = self.vectors[shortlist].astype(np.float32) @ query
        return best_of(scores, self.person_ids[shortlist])
