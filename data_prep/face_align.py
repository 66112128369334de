"""Stage 6: warp every frame so the face sits on a fixed template (similarity transform).

A lip-sync model learns the mouth, not the head's position: aligning each
frame with a similarity transform (rotation, uniform scale, translation; no
shear, so the face is not distorted) to a fixed face template puts the eyes,
nose and mouth at the same pixels in every training frame.

The template (:data:`FACE_TEMPLATE`) gives, in a unit square, where a few
*rigid* mediapipe mesh points go: eye corners, nose bridge and tip, and the
mouth corners. The chin and the lips' centre are left out on purpose because
they move when the speaker talks, and an alignment that followed them would
zoom in and out with every syllable. The proportions come from the mesh of a
frontal face; the scale makes the face fill the crop like Wav2Lip / LatentSync
crops (eyes at 40% of the height, mouth at 66%, chin near 92%), so the mouth
lies in the lower half that SyncNet and the UNet mask look at.

Transforms are estimated per frame by least squares (``skimage``), then
smoothed over time (centred moving average of the four similarity
parameters), which removes the frame-to-frame jitter of the landmarks without
lagging behind real head motion. The 2x3 matrices map source-frame pixels to
aligned pixels; they are stored per frame in ``ClipMeta.affines`` so inference
can paste generated faces back (:func:`paste_back`).

``template="latentsync"`` gives LatentSync's crop instead (``latentsync/utils/
affine_transform.py``, ``AlignRestore`` with three points), the one its released
UNet and StableSyncNet were trained on: the centres of the two eyebrows and of
the nose go to ``(17, 20), (58, 20), (37.5, 40) x r`` (``r = size / 256 x 2.8``)
of a ``75 r x 100 r`` crop, fitted like LatentSync (Procrustes with the scale
from the ratio of the point sets' spreads), and that 3:4 crop is resized to
``size x size``, so the face is squeezed horizontally as LatentSync's faces
are. LatentSync finds the points with insightface's 106 landmarks; here they
are means of mediapipe mesh points at the same places (all ten points of each
eyebrow; the nose bridge's middle points 197, 195, 5). On the scikit-image face
photo the nose point then sits 0.47 brow-spacings below the brows, where the
template puts it at 0.49. The smoothing over time is this module's (moving
average), not LatentSync's per-frame bias filter.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import uniform_filter1d
from skimage.transform import SimilarityTransform

# mediapipe face-mesh index -> (x, y) in the unit square of the aligned crop
FACE_TEMPLATE: dict[int, tuple[float, float]] = {
    33: (0.290, 0.400),  # eye outer corner, image left
    133: (0.420, 0.413),  # eye inner corner, image left
    362: (0.580, 0.413),  # eye inner corner, image right
    263: (0.710, 0.400),  # eye outer corner, image right
    168: (0.500, 0.387),  # nose bridge between the eyes
    1: (0.500, 0.593),  # nose tip
    2: (0.500, 0.612),  # below the nose (subnasale)
    61: (0.353, 0.660),  # mouth corner, image left
    291: (0.647, 0.660),  # mouth corner, image right
}
TEMPLATE_INDICES = np.array(list(FACE_TEMPLATE), np.int64)  # (K,)
TEMPLATE_POINTS = np.array(list(FACE_TEMPLATE.values()), np.float64)  # (K, 2) unit square
CHIN = 152  # not fitted; lands near (0.50, 0.92) for a closed mouth

# LatentSync's three points (image-left eyebrow, image-right eyebrow, nose) as mediapipe mesh points, and where its
# template puts them in a 75 x 100 crop at r = 1 (AlignRestore: face_template, face_size)
LATENTSYNC_POINTS = ((70, 63, 105, 66, 107, 46, 53, 52, 65, 55), (300, 293, 334, 296, 336, 276, 283, 282, 295, 285),
                     (197, 195, 5))
LATENTSYNC_TEMPLATE = np.array([[17.0, 20.0], [58.0, 20.0], [37.5, 40.0]])
LATENTSYNC_CROP = (75, 100)  # width, height at r = 1
TEMPLATES = ("mesh", "latentsync")


def _fit_mesh(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(T, 478, 2) -> (T, 4) least-squares similarity (a, b, tx, ty) onto :data:`FACE_TEMPLATE` at ``size``."""
    target = TEMPLATE_POINTS * size
    params = np.empty((len(landmarks), 4))
    for t, source in enumerate(landmarks[:, TEMPLATE_INDICES].astype(np.float64)):
        m = SimilarityTransform.from_estimate(source, target)
        if not m:
            raise ValueError(f"frame {t}: degenerate landmarks, no similarity transform fits")
        params[t] = m.params[0, 0], m.params[1, 0], m.params[0, 2], m.params[1, 2]
    return params


def latentsync_points(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, 2) mesh points -> (T, 3, 2): LatentSync's eyebrow centres and nose centre."""
    return np.stack([landmarks[:, list(group)].mean(axis=1) for group in LATENTSYNC_POINTS], axis=1)


def _fit_latentsync(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(T, 478, 2) -> (T, 4) similarity onto LatentSync's template in its ``75 r x 100 r`` crop, fitted as its
    ``transformation_from_points`` does (rotation by SVD, scale = ratio of the centred point sets' spreads)."""
    target = LATENTSYNC_TEMPLATE * (size / 256 * 2.8)
    dst = target - target.mean(0)
    params = np.empty((len(landmarks), 4))
    for t, source in enumerate(latentsync_points(landmarks.astype(np.float64))):
        src = source - source.mean(0)
        if src.std() == 0:
            raise ValueError(f"frame {t}: degenerate landmarks, no similarity transform fits")
        u, _, vt = np.linalg.svd((src / src.std()).T @ (dst / dst.std()))
        rotation = vt.T @ u.T
        if np.linalg.det(rotation) < 0:  # a reflection: flip the last singular direction, as LatentSync does
            vt[-1] *= -1
            rotation = vt.T @ u.T
        linear = dst.std() / src.std() * rotation
        shift = target.mean(0) - linear @ source.mean(0)
        params[t] = linear[0, 0], linear[1, 0], shift[0], shift[1]
    return params


def _crop_resize(size: int) -> np.ndarray:
    """(2, 3) affine of cv2.resize from LatentSync's ``75 r x 100 r`` crop to ``size x size`` (pixel centres)."""
    r = size / 256 * 2.8
    sx, sy = size / int(LATENTSYNC_CROP[0] * r), size / int(LATENTSYNC_CROP[1] * r)
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def estimate_affines(landmarks: np.ndarray, size: int = 256, smooth_window: int = 5,
                     template: str = "mesh") -> np.ndarray:
    """(T, 478, 2) source-pixel landmarks -> (T, 2, 3) float32 transforms, source -> aligned pixels.

    ``template``: ``mesh`` (this project's, a similarity) or ``latentsync`` (LatentSync's crop: a similarity
    followed by its 3:4 -> square resize)."""
    if landmarks.ndim != 3 or landmarks.shape[1:] != (478, 2):
        raise ValueError(f"landmarks must be (T, 478, 2), got {landmarks.shape}")
    if template not in TEMPLATES:
        raise ValueError(f"align template {template!r} unknown; expected one of {TEMPLATES}")
    used = TEMPLATE_INDICES if template == "mesh" else np.concatenate([list(g) for g in LATENTSYNC_POINTS])
    bad = np.flatnonzero(~np.isfinite(landmarks[:, used]).all(axis=(1, 2)))
    if len(bad):
        raise ValueError(f"landmarks are NaN in frames {bad[:10].tolist()}; align only frames with one tracked face")
    params = (_fit_mesh if template == "mesh" else _fit_latentsync)(landmarks, size)  # (T, 4): a, b, tx, ty
    if smooth_window > 1 and len(params) > 1:
        # linear in (a, b, tx, ty): a symmetric average keeps linear motion exactly
        params = uniform_filter1d(params, size=smooth_window, axis=0, mode="nearest")
    a, b, tx, ty = params.T
    affines = np.stack([np.stack([a, -b, tx], -1), np.stack([b, a, ty], -1)], axis=1)  # (T, 2, 3)
    if template == "latentsync":
        resize = _crop_resize(size)
        affines = np.einsum("ij,tjk->tik", resize[:, :2], affines)
        affines[:, :, 2] += resize[:, 2]
    return affines.astype(np.float32)


def transform_points(points: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Apply per-frame affines: (T, N, 2) points, (T, 2, 3) -> (T, N, 2) float32."""
    if len(points) != len(affines):
        raise ValueError(f"{len(points)} frames of points but {len(affines)} affines")
    linear, shift = affines[:, :, :2], affines[:, :, 2]  # (T, 2, 2), (T, 2)
    return (np.einsum("tij,tnj->tni", linear, points) + shift[:, None, :]).astype(np.float32)


def open_video(video: Path):
    """A decord reader for ``video``; pass it to :func:`align_frames` to align many clips of one video."""
    from decord import VideoReader, cpu

    return VideoReader(str(video), ctx=cpu(0), num_threads=1)


def align_frames(video: Path, start: int, stop: int, affines: np.ndarray, size: int = 256,
                 batch_frames: int = 32, reader=None) -> np.ndarray:
    """Decode frames ``[start, stop)`` of ``video`` and warp them -> (stop - start, size, size, 3) uint8 RGB.

    ``reader`` (from :func:`open_video`) reuses an open video instead of re-opening it per clip.
    """
    if len(affines) != stop - start:
        raise ValueError(f"{video}: {len(affines)} affines for frames [{start}, {stop})")
    reader = open_video(video) if reader is None else reader
    if not 0 <= start < stop <= len(reader):
        raise IndexError(f"{video}: frames [{start}, {stop}) outside its {len(reader)} frames")
    out = np.empty((stop - start, size, size, 3), np.uint8)
    for first in range(start, stop, batch_frames):  # batches bound memory for long HD clips
        frames = reader.get_batch(list(range(first, min(first + batch_frames, stop)))).asnumpy()  # (B, H, W, 3)
        for i, frame in enumerate(frames):
            t = first - start + i
            out[t] = cv2.warpAffine(frame, affines[t], (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    return out


def paste_back(frame: np.ndarray, face: np.ndarray, affine: np.ndarray, mask: np.ndarray | None = None,
               feather: int = 15) -> np.ndarray:
    """Blend an aligned ``face`` (S, S, 3) back into ``frame`` (H, W, 3) through the inverse of ``affine``.

    ``mask`` (S, S) in [0, 1] says which aligned pixels to paste (default: the
    whole crop); its edge is feathered by ``feather`` pixels so no seam shows.
    """
    height, width = frame.shape[:2]
    size = face.shape[0]
    if mask is None:
        mask = np.ones((size, size), np.float32)
    mask = mask.astype(np.float32)
    if feather > 0:
        # shrink then blur: the blend ramps from 0 at the crop edge to 1 ``feather`` pixels inside
        mask = cv2.erode(mask, np.ones((feather, feather), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=feather / 3)
    inverse = cv2.invertAffineTransform(affine.astype(np.float64))
    warped_face = cv2.warpAffine(face, inverse, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    warped_mask = cv2.warpAffine(mask, inverse, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]  # (H, W, 1)
    blended = frame.astype(np.float32) * (1 - warped_mask) + warped_face * warped_mask
    return np.clip(blended + 0.5, 0, 255).astype(frame.dtype)


def track_affines(frames: np.ndarray, size: int, template: str = "mesh") -> np.ndarray:
    """(T, H, W, 3) RGB frames -> (T, 2, 3) source -> aligned transforms (:func:`estimate_affines`' ``template``),
    NaN where not exactly one face."""
    from data_prep.faces import track_faces
    from data_prep.media import VideoSink

    with tempfile.TemporaryDirectory() as tmp:  # the tracker reads a file; write the 25 fps frames once
        video = Path(tmp) / "source.mp4"
        sink = VideoSink(video, frames.shape[2], frames.shape[1])
        for frame in frames:
            sink.write(frame)
        sink.close()
        track = track_faces(video)
    n = min(len(frames), len(track.landmarks))
    affines = np.full((len(frames), 2, 3), np.nan, np.float32)
    ok = np.flatnonzero((track.n_faces[:n] == 1) & np.isfinite(track.landmarks[:n]).all(axis=(1, 2)))
    if len(ok):
        affines[ok] = estimate_affines(track.landmarks[ok], size=size, template=template)
    return affines


def align(frame: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Source frame (H, W, 3) -> aligned crop (size, size, 3), as :func:`align_frames` warps."""
    return cv2.warpAffine(frame, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
