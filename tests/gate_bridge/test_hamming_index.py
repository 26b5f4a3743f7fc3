"""The sign-bit index over the population library finds what exact search finds, with exact scores."""
from __future__ import annotations

import numpy as np

from gate_bridge.access_cache import population_gallery
from gate_bridge.hamming_index import HammingGallery
from gate_bridge.matching import Gallery, accepted


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, 512), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def near(rng: np.random.Generator, v: np.ndarray, cos: float) -> np.ndarray:
    """A vector at about ``cos`` from ``v`` (a genuine probe of the same face)."""
    noise = rng.standard_normal(512).astype(np.float32)
    noise -= noise @ v * v
    noise /= np.linalg.norm(noise)
    return cos * v + np.sqrt(1 - cos * cos) * noise


def test_same_best_match_and_exact_scores_as_exact_search() -> None:
    rng = np.random.default_rng(7)
    matrix = unit(rng, 150_000)
    ids = np.arange(len(matrix)) // 2  # two templates per person, as libraries have
    exact, index = Gallery(ids, matrix), HammingGallery(ids, matrix)
    for cos in (0.36, 0.5, 0.7):
        for row in rng.integers(0, len(matrix), 30):
            q = near(rng, matrix[row], cos)
            a, b = exact.best(q), index.best(q)
            assert b.person_id == a.person_id == ids[row]
            assert abs(a.score - b.score) < 2e-3


def test_a_lookalike_runner_up_is_found_so_the_margin_rule_holds() -> None:
    rng = np.random.default_rng(8)
    matrix = unit(rng, 60_000)
    matrix[1] = near(rng, matrix[0], 0.97)  # person 1 looks like person 0
    index = HammingGallery(np.arange(len(matrix)), matrix)
    match = index.best(near(rng, matrix[0], 0.6))
    assert match.person_id in (0, 1) and match.runner_up > 0.5
    assert not accepted(match)  # too like another person: QR, card or the guard instead


def test_unknown_face_is_not_matched_and_small_libraries_stay_exact() -> None:
    rng = np.random.default_rng(9)
    matrix = unit(rng, 60_000)
    assert not accepted(HammingGallery(np.arange(len(matrix)), matrix).best(unit(rng, 1)[0]))
    small = population_gallery([(i, list(map(float, v))) for i, v in enumerate(matrix[:100])])
    assert isinstance(small, Gallery)
