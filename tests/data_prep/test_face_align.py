"""Tests for data_prep.face_align: template fit, smoothing, frame warping and paste-back."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep.face_align import (TEMPLATE_INDICES, TEMPLATE_POINTS, align_frames, estimate_affines, paste_back,
                                  transform_points)
from data_prep.faces import smooth_landmarks, track_faces
from tests.helpers.video_helpers import face_video, ffmpeg_available

needs_ffmpeg = pytest.mark.skipif(not ffmpeg_available(), reason="needs ffmpeg")


def _similarity(scale, angle, tx, ty):
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


def _landmarks_from_truth(truths, size, rng, noise=0.0):
    """Put the template points where the inverse of each true transform sends them."""
    out = rng.uniform(0, 300, (len(truths), 478, 2))
    for t, truth in enumerate(truths):
        inverse = cv2.invertAffineTransform(truth)
        pts = TEMPLATE_POINTS * size
        out[t, TEMPLATE_INDICES] = pts @ inverse[:, :2].T + inverse[:, 2] + rng.normal(0, noise, pts.shape)
    return out.astype(np.float32)


def test_estimate_affines_recovers_known_transforms():
    rng = np.random.default_rng(1)
    truths = [_similarity(1.5 + 0.01 * t, 0.1 - 0.005 * t, -40 + t, -20 - 0.5 * t) for t in range(10)]
    landmarks = _landmarks_from_truth(truths, 256, rng)
    affines = estimate_affines(landmarks, size=256, smooth_window=1)
    assert affines.shape == (10, 2, 3) and affines.dtype == np.float32
    np.testing.assert_allclose(affines, np.stack(truths), atol=1e-3)
    # linear motion survives the temporal smoothing (a centred average), ends included are close
    smoothed = estimate_affines(landmarks, size=256, smooth_window=5)
    np.testing.assert_allclose(smoothed[2:-2], np.stack(truths)[2:-2], atol=1e-3)


def test_temporal_smoothing_removes_jitter():
    rng = np.random.default_rng(2)
    truths = [_similarity(2.0, 0.0, -50 + 0.5 * t, -60) for t in range(40)]
    landmarks = _landmarks_from_truth(truths, 256, rng, noise=1.0)
    truth = np.stack(truths)
    raw_err = np.abs(estimate_affines(landmarks, smooth_window=1) - truth)[..., 2].mean()
    smooth_err = np.abs(estimate_affines(landmarks, smooth_window=7) - truth)[..., 2].mean()
    assert smooth_err < 0.6 * raw_err


def test_estimate_affines_rejects_missing_faces():
    landmarks = np.zeros((4, 478, 2), np.float32)
    landmarks[2] = np.nan
    with pytest.raises(ValueError, match=r"NaN in frames \[2\]"):
        estimate_affines(landmarks)


def test_transform_points_matches_cv2():
    rng = np.random.default_rng(3)
    affines = np.stack([_similarity(1.3, 0.2, 5, -7), _similarity(0.7, -0.4, 20, 3)]).astype(np.float32)
    points = rng.uniform(0, 100, (2, 30, 2)).astype(np.float32)
    out = transform_points(points, affines)
    for t in range(2):
        np.testing.assert_allclose(out[t], cv2.transform(points[t][None], affines[t])[0], atol=1e-4)


@pytest.fixture(scope="module")
def aligned_clip(tmp_path_factory):
    video = face_video(tmp_path_factory.mktemp("align") / "face.mp4", seconds=2.0, size=(320, 240), zoom=0.15)
    track = track_faces(video)
    landmarks = smooth_landmarks(track.landmarks)
    affines = estimate_affines(landmarks, size=128)
    return video, landmarks, affines, align_frames(video, 0, len(affines), affines, size=128)


@needs_ffmpeg
def test_aligned_key_points_stay_on_the_template(aligned_clip):
    video, landmarks, affines, frames = aligned_clip
    assert frames.shape == (60, 128, 128, 3) and frames.dtype == np.uint8
    aligned = transform_points(landmarks, affines)[:, TEMPLATE_INDICES]  # (T, K, 2) in 128 px crop
    # the source face moves ~50 px and zooms +-15%; aligned, every key point stays put
    assert np.abs(aligned.mean(0) - TEMPLATE_POINTS * 128).max() < 2.0
    assert aligned.std(0).max() < 1.0
    source_motion = landmarks[:, TEMPLATE_INDICES].std(0).max()
    assert source_motion > 8 * aligned.std(0).max()


@needs_ffmpeg
def test_align_then_paste_back_reproduces_the_face(aligned_clip):
    from decord import VideoReader

    video, _, affines, frames = aligned_clip
    t = 17
    original = VideoReader(str(video))[t].asnumpy()  # (240, 320, 3)
    canvas = np.zeros_like(original)
    pasted = paste_back(canvas, frames[t], affines[t], feather=9)
    # where the crop lands fully (mask 1), the pasted face matches the original within resampling error
    inside = cv2.warpAffine(np.ones((128, 128), np.float32), cv2.invertAffineTransform(affines[t]),
                            (320, 240), flags=cv2.INTER_NEAREST) > 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert inside.sum() > 2000
    error = np.abs(pasted.astype(int) - original.astype(int))[inside]
    assert error.mean() < 6
    assert pasted[~cv2.dilate(inside.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)].max() == 0
    # a half mask pastes only the lower half of the crop
    lower = np.zeros((128, 128), np.float32)
    lower[64:] = 1
    half = paste_back(canvas, frames[t], affines[t], mask=lower, feather=5)
    chin = transform_points(np.array([[[64.0, 110.0], [64.0, 20.0]]]), cv2.invertAffineTransform(affines[t])[None])
    (cx, cy), (fx, fy) = np.round(chin[0]).astype(int)
    assert half[cy, cx].sum() > 0 and half[fy, fx].sum() == 0


LATENTSYNC_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "latentsync" / "crop_transforms.json"


@pytest.mark.parametrize("case", range(8))
def test_latentsync_crop_is_latentsync_transform_then_its_resize(case):
    """Against LatentSync's own AlignRestore.transformation_from_points (fixture written by its code)."""
    from data_prep.face_align import LATENTSYNC_POINTS

    fixture = json.loads(LATENTSYNC_FIXTURE.read_text())["cases"][case]
    size, (crop_w, crop_h) = fixture["resolution"], fixture["face_size"]
    landmarks = np.zeros((1, 478, 2))
    for group, point in zip(LATENTSYNC_POINTS, fixture["points"]):
        landmarks[0, list(group)] = point  # every point of a group at LatentSync's landmark: the mean is it
    ours = estimate_affines(landmarks, size=size, smooth_window=1, template="latentsync")[0].astype(np.float64)
    theirs = np.array(fixture["matrix"])  # source -> the crop_w x crop_h crop
    sx, sy = size / crop_w, size / crop_h  # then cv2.resize to size x size (pixel centres)
    expected = np.array([[sx * theirs[0, 0], sx * theirs[0, 1], sx * theirs[0, 2] + 0.5 * sx - 0.5],
                         [sy * theirs[1, 0], sy * theirs[1, 1], sy * theirs[1, 2] + 0.5 * sy - 0.5]])
    np.testing.assert_allclose(ours[:, :2], expected[:, :2], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours[:, 2], expected[:, 2], atol=1e-3 * size)


def test_latentsync_points_on_a_real_face_sit_where_its_template_puts_them():
    """The mesh points chosen for LatentSync's insightface points: on the face photo, the crop puts the brows and
    the nose within a few pixels of the template, and the mouth in the lower half its mask covers."""
    import mediapipe as mp

    from data_prep.face_align import LATENTSYNC_TEMPLATE, latentsync_points
    from data_prep.synth.face_rig import face_photo

    image = face_photo()
    h, w = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as mesh:
        face = mesh.process(image).multi_face_landmarks[0]
    landmarks = np.array([[[p.x * w, p.y * h] for p in face.landmark]])
    affine = estimate_affines(landmarks, size=256, smooth_window=1, template="latentsync")
    placed = transform_points(latentsync_points(landmarks), affine)[0]  # (3, 2) in the 256 px crop
    r = 2.8
    target = LATENTSYNC_TEMPLATE * r * np.array([256 / int(75 * r), 256 / int(100 * r)])
    assert np.abs(placed - target).max() < 3.0, (placed, target)  # measured 1.1 px
    mouth = transform_points(landmarks[:, [13, 14, 61, 291]], affine)[0]  # lips' centre and corners
    assert (mouth[:, 1] > 128).all() and (mouth[:, 1] < 256).all(), mouth
