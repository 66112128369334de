"""``crop=track``: find the speaker's face track and crop it the way syncnet_python's pipeline does.

syncnet_python's ``run_pipeline.py`` (used by Wav2Lip for LSE on raw videos)
detects faces on every frame (S3FD), links detections into tracks by IoU > 0.5
allowing ``num_failed_det`` missing frames, interpolates boxes over the gaps,
keeps tracks longer than ``min_track`` frames with a mean box side above
``min_face_size``, median-filters box centre and half-size with kernel 13, and
crops each frame to a square of side ``2.8 * s`` (``s`` = half the box side,
``crop_scale`` 0.4) whose top is ``s`` above the box centre, i.e. shifted down
towards the mouth, padding with grey 110 outside the frame, resized to 224.

Here the detector is mediapipe's BlazeFace (offline, no hub download): its
boxes are a little tighter than S3FD's, so crops are slightly tighter too. The
longest track is scored (one speaker per generated video); the cropped frames
are not re-encoded to XVID as the reference's intermediate file is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.signal import medfilt
from tqdm import tqdm


@dataclass
class TrackConfig:
    min_track: int = 100  # frames; syncnet_python's default
    num_failed_det: int = 25
    min_face_size: float = 100.0  # pixels, mean box side
    iou_threshold: float = 0.5
    crop_scale: float = 0.4
    smooth_kernel: int = 13
    min_detection_confidence: float = 0.5
    model_selection: int = 0  # mediapipe: 0 short range (<2 m), 1 full range


@dataclass
class FaceTrack:
    frames: np.ndarray  # (n,) int frame indices, consecutive
    boxes: np.ndarray  # (n, 4) float x1, y1, x2, y2 in pixels


def detect_faces(frames_bgr: np.ndarray, cfg: TrackConfig) -> list[np.ndarray]:
    """(T, H, W, 3) uint8 BGR -> per frame (k, 4) boxes x1, y1, x2, y2 in pixels."""
    import mediapipe as mp

    h, w = frames_bgr.shape[1:3]
    scale = np.array([w, h, w, h], np.float64)
    out = []
    with mp.solutions.face_detection.FaceDetection(model_selection=cfg.model_selection,
                                                   min_detection_confidence=cfg.min_detection_confidence) as det:
        for frame in tqdm(frames_bgr, desc="detect faces", unit="frame", leave=False, disable=None):
            found = det.process(np.ascontiguousarray(frame[:, :, ::-1])).detections or []
            boxes = [(b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height)
                     for b in (d.location_data.relative_bounding_box for d in found)]
            out.append(np.asarray(boxes, np.float64).reshape(-1, 4) * scale)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two x1, y1, x2, y2 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def link_tracks(detections: list[np.ndarray], cfg: TrackConfig) -> list[FaceTrack]:
    """Greedy IoU linking (syncnet_python's track_shot), gap interpolation, length and size filters."""
    remaining = [list(d) for d in detections]
    tracks = []
    while True:
        frames, boxes = [], []
        for t, faces in enumerate(remaining):
            if frames and t - frames[-1] > cfg.num_failed_det:
                break
            for k, box in enumerate(faces):
                if not frames or box_iou(box, boxes[-1]) > cfg.iou_threshold:
                    frames.append(t)
                    boxes.append(box)
                    faces.pop(k)
                    break
        if not frames:
            return tracks
        if len(frames) > cfg.min_track:
            span = np.arange(frames[0], frames[-1] + 1)
            b = np.asarray(boxes)
            interp = np.stack([np.interp(span, frames, b[:, j]) for j in range(4)], axis=1)  # (n, 4)
            side = max(np.mean(interp[:, 2] - interp[:, 0]), np.mean(interp[:, 3] - interp[:, 1]))
            if side > cfg.min_face_size:
                tracks.append(FaceTrack(span, interp))


def crop_track(frames_bgr: np.ndarray, track: FaceTrack, cfg: TrackConfig, size: int = 224) -> np.ndarray:
    """syncnet_python's crop_video on in-memory frames -> (n, size, size, 3) uint8 BGR."""
    b = track.boxes
    half = medfilt(np.maximum(b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]) / 2, cfg.smooth_kernel)
    cy = medfilt((b[:, 1] + b[:, 3]) / 2, cfg.smooth_kernel)
    cx = medfilt((b[:, 0] + b[:, 2]) / 2, cfg.smooth_kernel)
    cs = cfg.crop_scale
    out = np.empty((len(track.frames), size, size, 3), np.uint8)
    for i, t in enumerate(track.frames):
        bs = half[i]
        pad = int(bs * (1 + 2 * cs))
        padded = cv2.copyMakeBorder(frames_bgr[t], pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(110, 110, 110))
        my, mx = cy[i] + pad, cx[i] + pad
        face = padded[int(my - bs):int(my + bs * (1 + 2 * cs)), int(mx - bs * (1 + cs)):int(mx + bs * (1 + cs))]
        out[i] = cv2.resize(face, (size, size))
    return out


def track_and_crop(frames_bgr: np.ndarray, cfg: TrackConfig) -> tuple[np.ndarray, FaceTrack]:
    """Native-size frames -> (cropped 224x224 frames of the longest track, that track). ValueError if none."""
    tracks = link_tracks(detect_faces(frames_bgr, cfg), cfg)
    if not tracks:
        raise ValueError(f"no face track longer than {cfg.min_track} frames with side > {cfg.min_face_size} px")
    best = max(tracks, key=lambda tr: len(tr.frames))
    return crop_track(frames_bgr, best, cfg), best
