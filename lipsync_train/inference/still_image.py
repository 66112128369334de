"""A single face photo as a talking-head source: its resolution fitted to the model, and small natural head motion.

A photo used as it is gives a frozen head whose only moving part is the mouth, and
if the face in the photo is larger than the model's aligned crop (a 1024 px
AI-generated portrait under a 256 px LatentSync model) the pasted mouth is an
upscaled crop, visibly softer than the skin around it. Two choices, both on by
default for a one-frame source in :func:`~lipsync_train.inference.video.lipsync_video`:

- :func:`fit_photo_to_model`: when the face would be upscaled (more photo pixels
  per aligned pixel than 1), the photo is downscaled (area interpolation) so one
  aligned pixel is one photo pixel: the generated mouth and the photo then have
  the same resolution. The output is smaller than the photo; turn it off
  (``still_fit=false``) to keep the photo's size with a softer mouth.
- :func:`natural_head_motion`: slow, small sway of the whole photo (rotation
  within about a degree, drift within about 1 % of the face's width, zoom within
  about 1 %; smooth sums of slow sinusoids, seeded). Blinks are not synthesised:
  the eyes stay as they are in the photo.

Because the aligned crop removes head motion, every output frame's crop is the
same ``align(photo, A)``; only the paste-back needs the moved frame
(:func:`moved_frame`), whose transform to the crop is ``A @ inv(M_t)``.
"""

from __future__ import annotations

import cv2
import numpy as np

from data_prep.head_motion import head_motion


def pixels_per_aligned_pixel(affine: np.ndarray) -> float:
    """Source pixels per aligned-crop pixel of a (2, 3) similarity transform source -> aligned (> 1: upscaled)."""
    return float(1.0 / np.sqrt(abs(np.linalg.det(np.asarray(affine, np.float64)[:, :2]))))


def fit_photo_to_model(photo: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(H, W, 3) photo + its source -> aligned transform -> (photo, transform, scale) with the face at the crop's
    resolution; ``scale`` < 1 when the photo was shrunk, 1 when it already was at (or below) the crop's."""
    factor = pixels_per_aligned_pixel(affine)
    if factor <= 1.0:
        return photo, affine, 1.0
    scale = 1.0 / factor
    height, width = photo.shape[:2]
    size = (max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2)))  # even: H.264 keeps it
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    sx, sy = size[0] / width, size[1] / height  # the exact per-axis scale after rounding
    fitted = np.asarray(affine, np.float64).copy()
    fitted[:, 0] /= sx
    fitted[:, 1] /= sy
    return small, fitted.astype(np.float32), scale


def natural_head_motion(n_frames: int, affine: np.ndarray, size: int, seed: int = 0, fps: float = 25.0,
                        rotate_deg: float = 1.0, drift: float = 0.01, zoom: float = 0.01) -> np.ndarray:
    """(T, 2, 3) photo -> frame transforms: slow sway about the face centre, amplitudes relative to the face.

    ``affine`` (source -> aligned crop of ``size`` px) gives the face's centre and width in photo pixels.
    """
    affine = np.asarray(affine, np.float64)
    centre = cv2.invertAffineTransform(affine) @ np.array([size / 2, size / 2, 1.0])  # crop centre, photo px
    face_width = pixels_per_aligned_pixel(affine) * size  # the aligned crop's side in photo pixels
    # slower than the generator's sway (<= 0.4 Hz) and smaller: a presenter's idle motion
    return head_motion(n_frames, fps, np.random.default_rng(seed), centre, drift_px=drift * face_width,
                       rotate_deg=rotate_deg, zoom=zoom, max_hz=0.4)


def moved_frame(photo: np.ndarray, affine: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo moved by ``motion`` (2, 3) and that frame's source -> aligned transform ``A @ inv(M)``."""
    height, width = photo.shape[:2]
    frame = cv2.warpAffine(photo, motion.astype(np.float64), (width, height), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT101)
    inv = np.vstack([cv2.invertAffineTransform(motion.astype(np.float64)), [0, 0, 1]])
    return frame, (np.asarray(affine, np.float64) @ inv).astype(np.float32)
