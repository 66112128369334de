"""Per-clip quality measures and the filters that drop clips on them, each with its own reason.

Web video brings faces a generated set never has: small faces a 256/512 px
crop must upscale, blurred mouths, heads turned to profile, shaky landmarks.
Each measure here is cheap (numbers the pipeline already has, or one
Laplacian over the mouth crop), is written to every kept clip's
``meta.quality`` and summarised in ``index.json``, and has a configurable
threshold (``quality.*`` in ``conf/data_prep.yaml``) past which the clip is
dropped with a reason from :mod:`data_prep.workflow.drops`:

- ``upscale``: how much the alignment enlarges the face (the similarity
  transform's scale; 1 = native pixels). Above ``max_upscale`` ->
  ``face_too_small``. Default by crop size (:func:`default_max_upscale`).
- ``mouth_sharpness``: variance of the Laplacian of the grey mouth region of
  the aligned frames (median over frames), measured at 256 px so one
  threshold serves both crop sizes. Below ``min_mouth_sharpness`` -> ``blurry``.
- ``yaw`` / ``pitch``: head pose in degrees (median over frames) from the 3-D
  face-mesh points (:func:`data_prep.faces.head_pose`). Beyond ``max_yaw`` / ``max_pitch`` -> ``profile``.
- ``jitter``: median frame-to-frame shake of the raw (unsmoothed) rigid
  landmarks around their smoothed path, in units of the eye-corner distance.
  Above ``max_jitter`` -> ``jittery``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
from scipy.signal import savgol_filter

from data_prep.face_align import TEMPLATE_INDICES
from data_prep.workflow.drops import Dropped

STAGE = "quality"
# mouth region of the aligned crop (unit square): around the template's mouth corners (0.35-0.65, y 0.66)
MOUTH_BOX = (0.30, 0.56, 0.70, 0.80)  # x0, y0, x1, y1
SHARPNESS_SIZE = 256  # sharpness is measured on frames resized to this side
EYE_OUTER = (33, 263)


def default_max_upscale(size: int) -> float:
    """The largest alignment upscale kept by default for an ``size`` px crop.

    256 px: 1.0, every pixel of the crop comes from a source pixel (a face
    whose eye corners are ~110 px apart, ~180 px wide). 512 px: 1.5, because
    web faces big enough for 1.0 (~360 px wide) are rare; 1.5 still keeps
    most mouth detail. For comparison, LatentSync's ``filter_high_resolution``
    (off in its shipped pipeline) keeps a video only if every frame's
    BlazeFace box is at least ``resolution`` px on both sides, about an upscale
    of 0.7 with our template, so it is stricter than ours.
    """
    return 1.0 if size <= 256 else 1.5


@dataclass
class QualityThresholds:
    max_upscale: float | None = None  # None: default_max_upscale(align size)
    min_mouth_sharpness: float = 50.0
    max_yaw: float = 40.0
    max_pitch: float = 30.0
    max_jitter: float = 0.03

    @classmethod
    def from_config(cls, cfg: dict | None) -> "QualityThresholds":
        return cls(**(cfg or {}))

    def applied(self, size: int) -> dict:
        """The thresholds as the checks apply them to a ``size`` px crop (``max_upscale`` resolved), for index.json."""
        limit = self.max_upscale if self.max_upscale is not None else default_max_upscale(size)
        return {**asdict(self), "max_upscale": float(limit)}


def upscale_factor(affines: np.ndarray) -> float:
    """Median scale of (T, 2, 3) transforms source -> aligned (>1: the face is enlarged); the geometric mean of
    the two axes' scales, which is the similarity's scale for the mesh template."""
    scales = np.sqrt(np.abs(np.linalg.det(affines[:, :, :2].astype(np.float64))))  # (T,)
    return float(np.median(scales))


def mouth_crop(frame: np.ndarray) -> np.ndarray:
    """The :data:`MOUTH_BOX` region of an aligned (S, S, 3) frame."""
    size = frame.shape[0]
    x0, y0, x1, y1 = (int(round(v * size)) for v in MOUTH_BOX)
    return frame[y0:y1, x0:x1]


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: the usual focus / detail measure."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F).var())


def mouth_sharpness(frames: np.ndarray) -> float:
    """Median over (T, S, S, 3) aligned frames of the mouth region's Laplacian variance, at 256 px."""
    values = []
    for frame in frames:
        if frame.shape[0] != SHARPNESS_SIZE:
            frame = cv2.resize(frame, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
        values.append(laplacian_variance(mouth_crop(frame)))
    return float(np.median(values))


def landmark_jitter(raw: np.ndarray, window: int = 7) -> float:
    """Median shake of the rigid landmarks of (T, 478, 2) raw points, in eye-corner distances.

    The smooth path (Savitzky-Golay, order 2) keeps real head motion; what is
    left is tracker noise. NaN frames are ignored; fewer than ``window`` valid frames give 0.
    """
    points = raw[:, TEMPLATE_INDICES].astype(np.float64)  # (T, K, 2)
    valid = np.isfinite(points).all(axis=(1, 2))
    points = points[valid]
    if len(points) < window:
        return 0.0
    smooth = savgol_filter(points, window | 1, 2, axis=0)
    eyes = raw[valid][:, list(EYE_OUTER)]  # (T, 2, 2)
    scale = np.median(np.linalg.norm(eyes[:, 1] - eyes[:, 0], axis=-1))
    residual = np.linalg.norm(points - smooth, axis=-1).mean(axis=1)  # (T,)
    return float(np.median(residual) / max(scale, 1e-6))


def measure_clip(affines: np.ndarray, frames: np.ndarray, pose: np.ndarray | None,
                 raw_landmarks: np.ndarray | None) -> dict:
    """Every measure of one clip -> a JSON-able dict (rounded)."""
    quality = {"upscale": round(upscale_factor(affines), 4), "mouth_sharpness": round(mouth_sharpness(frames), 2)}
    if pose is not None and np.isfinite(pose).any():
        quality["yaw"] = round(float(np.nanmedian(pose[:, 0])), 2)
        quality["pitch"] = round(float(np.nanmedian(pose[:, 1])), 2)
    if raw_landmarks is not None:
        quality["jitter"] = round(landmark_jitter(raw_landmarks), 5)
    return quality


def check_upscale(upscale: float, size: int, limits: QualityThresholds, clip: str) -> None:
    """Raise ``face_too_small`` when the face needs more than the allowed upscale to reach ``size``."""
    limit = limits.applied(size)["max_upscale"]
    if upscale > limit:
        raise Dropped(STAGE, "face_too_small", f"{clip}: the {size} px crop upscales the face {upscale:.2f}x "
                                               f"> quality.max_upscale {limit}")


def check_quality(quality: dict, limits: QualityThresholds, clip: str) -> None:
    """Raise :class:`Dropped` for the first measure outside its threshold (see the module docstring)."""
    if quality["mouth_sharpness"] < limits.min_mouth_sharpness:
        raise Dropped(STAGE, "blurry", f"{clip}: mouth sharpness {quality['mouth_sharpness']:.1f} "
                                       f"< quality.min_mouth_sharpness {limits.min_mouth_sharpness}")
    if abs(quality.get("yaw", 0.0)) > limits.max_yaw or abs(quality.get("pitch", 0.0)) > limits.max_pitch:
        raise Dropped(STAGE, "profile", f"{clip}: head pose yaw {quality.get('yaw')} / pitch {quality.get('pitch')} "
                                        f"deg beyond quality.max_yaw {limits.max_yaw} / max_pitch {limits.max_pitch}")
    if quality.get("jitter", 0.0) > limits.max_jitter:
        raise Dropped(STAGE, "jittery", f"{clip}: landmark jitter {quality['jitter']:.4f} eye distances "
                                        f"> quality.max_jitter {limits.max_jitter}")
