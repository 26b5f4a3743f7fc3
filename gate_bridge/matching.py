"""1:N face matching on normalised 512-d embeddings: cosine similarity as one matrix product.

A match needs the best similarity over the threshold *and* a margin over the runner-up of a
different person, so two similar-looking residents cannot open each other's door by chance.
The default threshold is calibrated by bench/face_accuracy.py on the shared test faces (w600k_mbf):
at 0.35, FAR 5.9e-5 (2 of 33,968 impostor pairs) and FRR 1.6 % — the goal FAR ≤ 1e-4 at FRR ≤ 2 %;
0.40 gives no false accepts but rejects 4.7 % of genuine pairs. A resident refused by the face still
enters by QR, card or the guard.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import bridge_settings

THRESHOLD = bridge_settings().face_threshold
MARGIN = bridge_settings().face_margin
DIM = 512
_TOP = 16  # candidates sorted per query: enough to find the runner-up of another person


@dataclass(frozen=True)
class Match:
    person_id: int | None
    score: float
    runner_up: float  # the best score of any *other* person (0 when there is none)


@dataclass
class Gallery:
    """Templates of many people (several rows per person allowed), as one float32 matrix."""

    person_ids: np.ndarray
    matrix: np.ndarray  # (n, 512) float32, rows normalised

    @classmethod
    def empty(cls) -> "Gallery":
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, DIM), dtype=np.float32))

    @classmethod
    def from_rows(cls, rows: list[tuple[int, list[float]]]) -> "Gallery":
        if not rows:
            return cls.empty()
        matrix = np.asarray([r[1] for r in rows], dtype=np.float32)
        return cls(np.asarray([r[0] for r in rows], dtype=np.int64), np.ascontiguousarray(normalise(matrix)))

    def __len__(self) -> int:
        return len(self.person_ids)

    def best(self, embedding: np.ndarray) -> Match:
        if not len(self):
            return Match(None, 0.0, 0.0)
        scores = self.matrix @ normalise(np.asarray(embedding, dtype=np.float32))
        return best_of(scores, self.person_ids)


def best_of(scores: np.ndarray, person_ids: np.ndarray) -> Match:
    """Best person and the best other person from one row of scores, without sorting all of it."""
    n = len(scores)
    top = np.argpartition(scores, n - _TOP)[n - _TOP:] if n > _TOP else np.arange(n)
    top = top[np.argsort(scores[top])[::-1]]
    best = int(top[0])
    others = [i for i in top[1:] if person_ids[i] != person_ids[best]]
    if others:
        runner = float(scores[others[0]])
    else:  # every candidate is the same person (many templates): look at the rest
        rest = scores[person_ids != person_ids[best]]
        runner = float(rest.max()) if rest.size else 0.0
    return Match(int(person_ids[best]), float(scores[best]), runner)


def normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def accepted(match: Match, threshold: float = THRESHOLD, margin: float = MARGIN) -> bool:
    return match.person_id is not None and match.score >= threshold and match.score - match.runner_up >= margin
