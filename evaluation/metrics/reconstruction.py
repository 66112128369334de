"""Reconstruction metrics (``metrics=[recon]``): mouth SSIM, mouth PSNR and lip landmark distance (LMD).

In a reconstruction run the model re-generates the mouth of a video it has the
ground truth of, so every generated video ``videos/X`` is compared with the
ground-truth video of the same file name in ``reference/X``, frame ``t`` with
frame ``t``. Both must have the same number of frames, otherwise the video is
a ``failed`` row (``frame_count``); so is a video with no ground truth
(``no_reference``), an unreadable one (``unreadable``, ...) and one whose
ground truth shows no face in any frame (``no_face``). A generated video of a
different resolution is resized (bilinear) to the ground truth's.

Exact definitions (``mesh`` = mediapipe face mesh, 478 points, tracking mode,
one face, run on the frames decoded by :func:`evaluation.media.read_frames`
with ``jpeg=False``; the mesh runs here on those very frames rather than
through :func:`data_prep.faces.track_faces`, whose decord decoder could count
frames differently from ffmpeg and silently shift the pairing):

- **Lip landmarks** :data:`LIP_INDICES`: the 40 points of mediapipe's
  ``FACEMESH_LIPS`` (outer and inner lip contours). The published LMD (Chen et
  al. 2018, "Lip Movements Generation at a Glance") uses the 20 mouth points
  (48-67) of the 68-point dlib model; ours is the mediapipe analogue, so the
  numbers are comparable between our runs, not with published LMD tables.
- **Mouth box** of frame ``t``: from the *ground truth's* lip landmarks, a
  square centred on their bounding box with side ``(1 + 2 * margin) *`` the
  box's longer side (``margin`` 0.3 by default), rounded to whole pixels.
  Both videos are cut with the same box (grey 0 outside the frame) and resized
  to ``mouth_size`` x ``mouth_size`` (96, ``cv2.INTER_AREA``).
- **SSIM**: ``skimage.metrics.structural_similarity`` of the two RGB mouth
  crops with ``channel_axis=-1, data_range=255, gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False`` (Wang et al. 2004's settings),
  averaged over frames.
- **PSNR**: ``skimage.metrics.peak_signal_noise_ratio(data_range=255)`` of the
  same crops per frame, capped at :data:`PSNR_CAP` dB (identical crops would
  give infinity, which JSON cannot hold), averaged over frames.
- **LMD**: the ground truth's frame-``t`` similarity transform to the aligned
  face template (:func:`data_prep.face_align.estimate_affines`, no temporal
  smoothing, crop side ``align_size`` = 256) maps *both* videos' lip landmarks
  into the ground truth's aligned-face frame, so the face's position, size
  and rotation in the frame do not count; LMD is the mean over lip points and
  frames of the L2 distance, in pixels of that 256 x 256 aligned crop.

Frames where the ground truth has no face are left out of all three (their
count is ``recon_frames_skipped``); frames where only the generated video lost
the face are left out of LMD (``lmd_frames`` says how many frames LMD used). The
metric means in results.json are plain averages of the per-video numbers.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm import tqdm

from evaluation import media
from evaluation.registry import EvalRun, Metric, register

log = logging.getLogger(__name__)

# mediapipe FACEMESH_LIPS, outer contour (20) then inner contour (20)
LIP_INDICES = np.array([61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
                        78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191])
PSNR_CAP = 100.0  # dB


@dataclass
class ReconConfig:
    mouth_size: int = 96  # side of the resized mouth crops SSIM / PSNR compare
    margin: float = 0.3  # box side = (1 + 2 * margin) * longer side of the lip landmarks' box
    align_size: int = 256  # LMD unit: pixels of an aligned face crop of this side
    min_detection_confidence: float = 0.5


class ReconFailed(Exception):
    """A video that cannot be compared; ``reason`` is the short code written to results.json."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def face_landmarks(frames_bgr: np.ndarray, min_detection_confidence: float = 0.5) -> np.ndarray:
    """(T, H, W, 3) uint8 BGR -> (T, 478, 2) float32 pixel landmarks of one face, NaN where none is found."""
    import mediapipe as mp

    n, h, w = frames_bgr.shape[:3]
    out = np.full((n, 478, 2), np.nan, np.float32)
    scale = np.array([w, h], np.float32)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=min_detection_confidence,
                                         min_tracking_confidence=0.5) as mesh:
        for t, frame in enumerate(frames_bgr):
            found = mesh.process(np.ascontiguousarray(frame[:, :, ::-1])).multi_face_landmarks
            if found:
                out[t] = np.array([(p.x, p.y) for p in found[0].landmark], np.float32) * scale
    return out


def mouth_boxes(landmarks: np.ndarray, margin: float = 0.3) -> np.ndarray:
    """(T, 478, 2) landmarks -> (T, 4) int x0, y0, x1, y1 square mouth boxes (x1, y1 exclusive); -1 where NaN."""
    lips = landmarks[:, LIP_INDICES]  # (T, 40, 2)
    boxes = np.full((len(lips), 4), -1, np.int64)
    valid = np.isfinite(lips).all(axis=(1, 2))
    if valid.any():
        lo, hi = lips[valid].min(axis=1), lips[valid].max(axis=1)  # (V, 2)
        centre = (lo + hi) / 2
        half = (1 + 2 * margin) * (hi - lo).max(axis=1) / 2  # (V,)
        x0 = np.round(centre[:, 0] - half).astype(np.int64)
        y0 = np.round(centre[:, 1] - half).astype(np.int64)
        side = np.maximum(np.round(2 * half).astype(np.int64), 2)
        boxes[valid] = np.stack([x0, y0, x0 + side, y0 + side], axis=1)
    return boxes


def crop_box(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Cut ``box`` (x0, y0, x1, y1) out of ``frame`` (H, W, 3), zero outside, resize -> (size, size, 3)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = frame.shape[:2]
    patch = np.zeros((y1 - y0, x1 - x0, 3), frame.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def mouth_ssim_psnr(generated: np.ndarray, truth: np.ndarray, boxes: np.ndarray,
                    size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mouth SSIM and capped PSNR for frames with a box -> two (V,) float arrays."""
    ssim, psnr = [], []
    for gen, ref, box in zip(generated, truth, boxes):
        if box[2] <= box[0]:  # no ground-truth face in this frame
            continue
        a, b = crop_box(gen, box, size)[:, :, ::-1], crop_box(ref, box, size)[:, :, ::-1]  # (S, S, 3) RGB
        ssim.append(structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True,
                                          sigma=1.5, use_sample_covariance=False))
        with warnings.catch_warnings():  # identical crops: MSE 0 -> divide by zero -> inf, capped below
            warnings.simplefilter("ignore", RuntimeWarning)
            psnr.append(min(float(peak_signal_noise_ratio(b, a, data_range=255)), PSNR_CAP))
    return np.asarray(ssim, np.float64), np.asarray(psnr, np.float64)


def lip_distances(generated_lm: np.ndarray, truth_lm: np.ndarray, align_size: int = 256) -> np.ndarray:
    """Per-frame LMD (mean L2 over :data:`LIP_INDICES`, in aligned-crop pixels) where both have a face -> (V,)."""
    from data_prep.face_align import estimate_affines, transform_points

    both = np.isfinite(truth_lm).all(axis=(1, 2)) & np.isfinite(generated_lm).all(axis=(1, 2))
    if not both.any():
        return np.zeros(0, np.float64)
    affines = estimate_affines(truth_lm[both], size=align_size, smooth_window=1)  # (V, 2, 3) truth -> aligned
    gen = transform_points(generated_lm[both][:, LIP_INDICES], affines)  # (V, 40, 2)
    ref = transform_points(truth_lm[both][:, LIP_INDICES], affines)
    return np.linalg.norm(gen.astype(np.float64) - ref, axis=-1).mean(axis=1)


def compare_videos(generated: Path, truth: Path, cfg: ReconConfig | None = None) -> dict:
    """One generated video against its ground truth -> {"ssim", "psnr", "lmd", "recon_frames",
    "recon_frames_skipped", "lmd_frames"}; raises ReconFailed with the results.json reason."""
    cfg = cfg or ReconConfig()
    if not truth.is_file():
        raise ReconFailed("no_reference", f"{generated.name}: no ground truth {truth}")
    try:
        gen = media.read_frames(generated, None, jpeg=False)  # (T, H, W, 3) uint8 BGR
        ref = media.read_frames(truth, None, jpeg=False)
    except media.MediaError as exc:
        raise ReconFailed(exc.reason, exc.detail) from exc
    if len(gen) != len(ref):
        raise ReconFailed("frame_count", f"{generated.name}: {len(gen)} frames, but the ground truth "
                          f"{truth} has {len(ref)}; reconstruction metrics pair frame t with frame t")
    if gen.shape[1:3] != ref.shape[1:3]:
        h, w = ref.shape[1:3]
        gen = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in gen])
    ref_lm = face_landmarks(ref, cfg.min_detection_confidence)
    boxes = mouth_boxes(ref_lm, cfg.margin)
    n_box = int((boxes[:, 2] > boxes[:, 0]).sum())
    if n_box == 0:
        raise ReconFailed("no_face", f"{truth.name}: the face mesh found no face in any ground-truth frame")
    ssim, psnr = mouth_ssim_psnr(gen, ref, boxes, cfg.mouth_size)
    lmd = lip_distances(face_landmarks(gen, cfg.min_detection_confidence), ref_lm, cfg.align_size)
    return {"ssim": float(ssim.mean()), "psnr": float(psnr.mean()),
            "lmd": float(lmd.mean()) if len(lmd) else None,
            "recon_frames": n_box, "recon_frames_skipped": len(ref) - n_box, "lmd_frames": int(len(lmd))}


def score_reconstruction(videos: list[Path], reference_dir: str | Path, cfg: ReconConfig | None = None,
                         progress: bool = True) -> tuple[dict, list[dict]]:
    """-> ({"ssim", "psnr", "lmd" means, "videos": rows}, failed rows) over ``videos`` vs ``reference_dir/<name>``."""
    rows, failed = [], []
    for path in tqdm(videos, desc="recon", unit="video", disable=not progress or None):
        try:
            rows.append({"video": path.name, **compare_videos(path, Path(reference_dir) / path.name, cfg)})
        except ReconFailed as exc:
            log.warning("%s: reconstruction metrics not computed: %s (%s)", path.name, exc.reason, exc.detail)
            failed.append({"video": path.name, "reason": exc.reason, "detail": exc.detail, "metric": "recon"})

    def mean(key: str) -> float | None:
        values = [row[key] for row in rows if row[key] is not None]
        return float(np.mean(values)) if values else None

    return {"ssim": mean("ssim"), "psnr": mean("psnr"), "lmd": mean("lmd"), "videos": rows}, failed


def recon_protocol(cfg: dict) -> dict:
    return {"recon": {**cfg["recon"], "reference": cfg["reference"], "psnr_cap": PSNR_CAP,
                      "lip_indices": LIP_INDICES.tolist(), "definitions": "evaluation/metrics/reconstruction.py"}}


def score_recon(run: EvalRun) -> None:
    """lipsync-eval's ``recon``: mouth SSIM / PSNR and lip LMD of each video against ``reference/<name>``."""
    recon, failed = score_reconstruction(run.videos, run.cfg["reference"], ReconConfig(**run.cfg["recon"]),
                                         run.cfg["progress"])
    run.payload.update({k: recon[k] for k in ("ssim", "psnr", "lmd")})
    run.add_rows(recon["videos"])
    run.failed.extend(failed)


register(Metric("recon", "mouth SSIM / PSNR and lip landmark distance against the ground truth (same file names)",
                score_recon, needs=("reference",), protocol=recon_protocol, means=("ssim", "psnr", "lmd")))
