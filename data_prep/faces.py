"""Stage 5: track the speaker's face through a normalised video with mediapipe.

For every frame we want the 478-point face mesh (468 + 10 iris points,
``refine_landmarks=True``) of the one visible face, and to know when there is
no face, more than one, or one too small to train on, so those frames can be
excluded with a reason (:mod:`data_prep.workflow.drops`).

Speed decides how this is built. The face mesh in tracking mode
(``static_image_mode=False``) skips its face detector while it holds as many
faces as ``max_num_faces`` asks for; with ``max_num_faces=2`` and one speaker it
therefore runs the detector on *every* frame (about 95 frames/s on one core,
measured), with ``max_num_faces=1`` it tracks (about 165 frames/s). So the mesh
tracks one face, and a separate BlazeFace detector (``face_detection``, short
range) counts faces every ``detect_every`` frames; a count of 2+ marks the
frames up to the next detection as ``several_faces``; on those frames every
face the counter finds is meshed on its own crop and kept as a candidate, so
the workflow can pick the active speaker (:mod:`data_prep.workflow.active_speaker`)
instead of dropping the frames. The counter is BlazeFace's *full-range* model:
the short-range one (also the face mesh's own detector, so a multi-face mesh
does no better) found only one of two ~70 px faces in a downscaled portrait
frame (measured on the realistic generated case); full range found both. Frames are decoded by
decord in batches, downscaled by the decoder to ``max_side``, so a long video
never sits in memory; landmarks are mapped back to the normalised video's pixels.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import savgol_filter
from tqdm import tqdm

log = logging.getLogger(__name__)
N_LANDMARKS = 478


@dataclass
class FaceTrack:
    """Per-frame face-mesh results for one video, in the normalised video's pixels."""

    landmarks: np.ndarray  # (T, 478, 2) float32 x, y; NaN where n_faces != 1
    n_faces: np.ndarray  # (T,) int8: 0, 1 or 2 (2 = two or more)
    face_size: np.ndarray  # (T,) float32 larger side of the landmark box (forehead-chin height); 0 if no face
    pose: np.ndarray | None = None  # (T, 2) float32 yaw, pitch degrees (head_pose); NaN without a face
    # frame -> (K, 478, 3) float32 mesh points (pixels, z like x) of every face, on frames with n_faces >= 2
    candidates: dict[int, np.ndarray] = field(default_factory=dict)


def track_faces(video: Path, max_side: int = 480, min_detection_confidence: float = 0.5,
                detect_every: int = 5, batch_frames: int = 32, counter_model: int = 1,
                max_candidates: int = 4) -> FaceTrack:
    """Run the face mesh (and a face counter every ``detect_every`` frames) over ``video``.

    ``counter_model``: BlazeFace 1 = full range (default), 0 = short range.
    """
    import mediapipe as mp
    from decord import VideoReader, cpu

    probe = VideoReader(str(video), ctx=cpu(0), num_threads=1)
    n_frames = len(probe)
    height, width = probe[0].shape[:2]
    del probe
    scale = min(1.0, max_side / max(width, height))
    small_w, small_h = _even(width * scale), _even(height * scale)
    reader = VideoReader(str(video), ctx=cpu(0), width=small_w, height=small_h, num_threads=1)

    landmarks = np.full((n_frames, N_LANDMARKS, 2), np.nan, np.float32)
    n_faces = np.zeros(n_frames, np.int8)
    face_size = np.zeros(n_frames, np.float32)
    pose = np.full((n_frames, 2), np.nan, np.float32)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                           min_detection_confidence=min_detection_confidence,
                                           min_tracking_confidence=0.5)
    counter = mp.solutions.face_detection.FaceDetection(model_selection=counter_model,
                                                        min_detection_confidence=min_detection_confidence)
    crop_mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                                min_detection_confidence=min_detection_confidence)
    to_pixels = np.array([width, height, width], np.float32)  # mediapipe z is in units of the width
    candidates: dict[int, np.ndarray] = {}
    detected = 0  # faces seen by the counter at its last run
    with mesh, counter, crop_mesh, tqdm(total=n_frames, desc=f"faces {Path(video).name}", unit="frame",
                              disable=None, leave=False) as bar:
        for batch_start in range(0, n_frames, batch_frames):
            indices = list(range(batch_start, min(batch_start + batch_frames, n_frames)))
            frames = reader.get_batch(indices).asnumpy()  # (B, h, w, 3) uint8 RGB
            for t, frame in zip(indices, frames):
                if t % detect_every == 0 or detected >= 2:  # several faces: their boxes are needed every frame
                    found = counter.process(frame).detections or []
                    detected = len(found)
                result = mesh.process(frame).multi_face_landmarks
                if not result:
                    continue
                points3d = _mesh_points(result[0], to_pixels)  # (478, 3)
                points = points3d[:, :2]  # (478, 2)
                pose[t] = head_pose(points3d)
                face_size[t] = (points.max(0) - points.min(0)).max()
                n_faces[t] = 2 if detected >= 2 else 1
                if n_faces[t] == 1:
                    landmarks[t] = points
                else:
                    every = [f for f in (_mesh_in_box(frame, d, crop_mesh) for d in found[:max_candidates]) if f is not None]
                    scale = np.array([width / frame.shape[1], height / frame.shape[0], width / frame.shape[1]],
                                     np.float32)
                    candidates[t] = np.stack([f * scale for f in every] or [points3d])  # (K, 478, 3)
            bar.update(len(indices))
    log.info("%s: %d frames, one face in %d, several in %d", video, n_frames,
             int((n_faces == 1).sum()), int((n_faces >= 2).sum()))
    return FaceTrack(landmarks, n_faces, face_size, pose, candidates)


def _mesh_in_box(frame: np.ndarray, detection, mesh, grow: float = 1.8) -> np.ndarray | None:
    """Mesh the one face of a BlazeFace ``detection`` on its own square crop -> (478, 3) frame pixels or None."""
    h, w = frame.shape[:2]
    box = detection.location_data.relative_bounding_box
    cx, cy = (box.xmin + box.width / 2) * w, (box.ymin + box.height / 2) * h
    side = int(max(box.width * w, box.height * h) * grow)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    crop = np.zeros((side, side, 3), np.uint8)  # pad where the square leaves the frame
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if side < 8 or sx1 <= sx0 or sy1 <= sy0:
        return None
    crop[sy0 - y0: sy1 - y0, sx0 - x0: sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    result = mesh.process(crop).multi_face_landmarks
    if not result:
        return None
    points = _mesh_points(result[0], np.array([side, side, side], np.float32))
    points[:, 0] += x0
    points[:, 1] += y0
    return points


def _mesh_points(face, to_pixels: np.ndarray) -> np.ndarray:
    """One mediapipe face (normalised x, y, z) -> (478, 3) float32 pixels."""
    return np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32) * to_pixels


CHEEKS = (234, 454)  # image-left and image-right face-contour points of the mesh
FOREHEAD, CHIN = 10, 152
# the mesh's forehead sits behind its chin: frontal generated faces measure +10..+13 deg of raw pitch
FRONTAL_PITCH = 12.0


def head_pose(points3d: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees from one face's (478, 3) mesh points in pixels (z scaled like x).

    Yaw is the turn of the cheek-to-cheek line out of the image plane, pitch
    the tilt of the forehead-to-chin line less :data:`FRONTAL_PITCH`; both near
    0 for a frontal face. A rough geometric estimate (no camera model), enough
    to tell profile from frontal.
    """
    across = points3d[CHEEKS[1]] - points3d[CHEEKS[0]]
    down = points3d[CHIN] - points3d[FOREHEAD]
    yaw = np.degrees(np.arctan2(across[2], abs(across[0])))
    pitch = np.degrees(np.arctan2(down[2], abs(down[1]))) - FRONTAL_PITCH
    return float(yaw), float(pitch)


def frame_rejections(track: FaceTrack, min_face_size: float) -> np.ndarray:
    """(T,) object array: None for a usable frame, else its drop reason."""
    reasons = np.full(len(track.n_faces), None, object)
    reasons[track.n_faces == 0] = "no_face"
    reasons[track.n_faces >= 2] = "several_faces"
    reasons[(track.n_faces == 1) & (track.face_size < min_face_size)] = "face_too_small"
    return reasons


def usable_runs(track: FaceTrack, min_face_size: float, min_frames: int) -> tuple[list[tuple[int, int]], Counter]:
    """Runs ``[start, stop)`` of ``min_frames``+ frames with exactly one face of ``min_face_size``+ pixels.

    Also returns how many frames were rejected for each reason (``no_face``,
    ``several_faces``, ``face_too_small``), so a caller left with no run can
    report the dominant reason.
    """
    reasons = frame_rejections(track, min_face_size)
    rejected = Counter(r for r in reasons if r is not None)
    runs = [(a, b) for a, b in true_runs(reasons == None) if b - a >= min_frames]  # noqa: E711 (elementwise)
    return runs, rejected


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[start, stop)`` where the boolean ``mask`` (T,) is True."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def smooth_landmarks(landmarks: np.ndarray, window: int = 5, polyorder: int = 2) -> np.ndarray:
    """Savitzky-Golay smoothing over time, separately within each run of valid frames.

    ``landmarks`` is (T, N, 2) with NaN rows for missing frames; NaN frames
    stay NaN and no value crosses a gap. A run shorter than ``window`` is
    smoothed with the largest odd window that fits (left as is below 3 frames).
    """
    out = np.array(landmarks, np.float32, copy=True)
    if window < 3:
        return out
    valid = np.isfinite(landmarks).all(axis=(1, 2))  # (T,)
    for start, stop in true_runs(valid):
        length = stop - start
        win = min(window | 1, length if length % 2 else length - 1)
        if win < 3:
            continue
        out[start:stop] = savgol_filter(landmarks[start:stop], win, min(polyorder, win - 1), axis=0)
    return out


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)
