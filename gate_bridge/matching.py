"""1:N face matching on normalised 512-d embeddings: cosine similarity as one matrix product.

A match needs the best similarity over the threshold *and* a margin over the runner-up of a
different person, so two similar-looking residents cannot open each other's door by chance.
The default threshold is calibrated by bench/face_accuracy.py on the shared test faces (w600k_mbf):
at 0.35, FAR 5.9e-5 (2 of 33,968 impostor pairs) and FRR 1.6 % — the goal FAR ≤ 1e-4 at FRR ≤ 2 %;
0.40 gives no false accepts but rejects 4.7 % of genuine pairs. A resident refused by the face still
enters by QR, card or the guard.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

THRESHOLD = float(os.environ.get("GRIDPULSE_FACE_THRESHOLD", "0.35"))
MARGIN = float(os.environ.get("GRIDPULSE_FACE_MARGIN", "0.05"))
DIM = 512


@dataclass(frozen=True)
class Match:
    person_id: int | None
    score: float
    runner_up: float


@dataclass
class Gallery:
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
        return cls(np.asarray([r[0] for r in rows], dtype=np.int64), normalise(matrix))

    def __len__(self) -> int:
        return len(self.person_ids)

    def best(self, embedding: np.ndarray) -> Match:
        if not len(self):
            return Match(None, 0.0, 0.0)
        scores = self.matrix @ normalise(embedding.astype(np.float32))
        order = np.argsort(scores)[::-1]
        best = int(order[0])
        others = [i for i in order[1:] if self.person_ids[i] != self.person_ids[best]]
        runner = float(scores[others[0]]) if others else 0.0
        return Match(int(self.person_ids[best]), float(scores[best]), runner)


def normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def accepted(match: Match, threshold: float = THRESHOLD, margin: float = MARGIN) -> bool:
    return match.person_id is not None and match.score >= threshold and match.score - match.runner_up >= margin
