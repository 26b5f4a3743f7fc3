"""Quality gates between detection and recognition: a face too small, too blurred or turned too far
is refused with its reason instead of being matched, because a poor template gives poor scores and
either locks a resident out or, worse, lets the wrong person in. Refused people use QR, card or the
guard; the device can also ask them to step closer or look at the camera.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.errors import GridPulseError
from credentials.reasons import Reason
from core.config import BridgeSettings


class FaceRejected(GridPulseError):
    """An image without a face good enough to match; ``record`` is the Reason code the gate shows."""


def check(image: np.ndarray, box: np.ndarray, kps: np.ndarray, cfg: BridgeSettings, scale: float = 1.0) -> int:
    """Raise FaceRejected unless the face passes every gate; return its size in source pixels.

    ``scale`` is how much the image was shrunk on decoding, so the size limit applies to the
    camera's pixels, not to the decoded copy.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    size = int(min(x2 - x1, y2 - y1) * scale)
    if size < cfg.min_face_px:
        raise FaceRejected(f"the face is {size} px; at least {cfg.min_face_px} px are needed (step closer)",
                           record=Reason.face_too_small.value)
    if yaw_ratio(kps) > cfg.max_yaw_ratio:
        raise FaceRejected("the face is turned too far from the camera (look at it)", record=Reason.face_turned.value)
    crop = image[max(0, int(y1)):max(0, int(y2)), max(0, int(x1)):max(0, int(x2))]
    if crop.size and sharpness(crop) < cfg.min_face_sharpness:
        raise FaceRejected("the face is too blurred (hold still, clean the lens)", record=Reason.face_blurred.value)
    return size


def yaw_ratio(kps: np.ndarray) -> float:
    """How far the nose sits off the eyes' midline, relative to the eye distance (0 = frontal).

    SCRFD's five keypoints are enough for a yaw estimate without a 3-D head model: at about 35°
    of yaw the nose moves a third of the eye distance off the midline.
    """
    left_eye, right_eye, nose = kps[0], kps[1], kps[2]
    eye_distance = float(np.linalg.norm(right_eye - left_eye)) or 1.0
    return abs(float(nose[0] - (left_eye[0] + right_eye[0]) / 2)) / eye_distance


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian on a face crop scaled to 112 px (the recogniser's input): low = blurred."""
    grey = cv2.cvtColor(cv2.resize(crop, (112, 112)), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
