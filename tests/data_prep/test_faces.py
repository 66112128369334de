"""Tests for data_prep.faces: face tracking on generated videos of the scikit-image astronaut."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_prep.faces import FaceTrack, smooth_landmarks, track_faces, true_runs, usable_runs
from tests.helpers.video_helpers import face_video, ffmpeg_available, no_face_video, tiny_face_video, two_faces_video

needs_ffmpeg = pytest.mark.skipif(not ffmpeg_available(), reason="needs ffmpeg")
NOSE_TIP = 1


@pytest.fixture(scope="module")
def moving_face(tmp_path_factory):
    """2 s at 30 fps, 320x240, the face drifting by +-8% of the frame (see render_moving)."""
    return face_video(tmp_path_factory.mktemp("faces") / "face.mp4", seconds=2.0, size=(320, 240))


@pytest.fixture(scope="module")
def moving_track(moving_face):
    return track_faces(moving_face)


@needs_ffmpeg
def test_track_faces_follows_one_moving_face(moving_track):
    track = moving_track
    assert track.landmarks.shape == (60, 478, 2) and track.landmarks.dtype == np.float32
    assert (track.n_faces == 1).all()
    assert np.isfinite(track.landmarks).all()
    assert 60 < np.median(track.face_size) < 140  # face is about half the 240 px frame
    # the nose follows the rendered drift cx = 320 * (0.5 + 0.08 sin(2 pi t / 60))
    expected_x = 320 * 0.08 * np.sin(2 * math.pi * np.arange(60) / 60)
    nose_x = track.landmarks[:, NOSE_TIP, 0]
    assert np.corrcoef(nose_x, expected_x)[0, 1] > 0.95
    assert 0.6 < np.ptp(nose_x) / np.ptp(expected_x) < 1.6


@needs_ffmpeg
def test_downscaled_landmarking_maps_back_to_full_resolution(moving_face, moving_track):
    small = track_faces(moving_face, max_side=200)  # landmarks computed at 200x150, reported at 320x240
    both = (small.n_faces == 1) & (moving_track.n_faces == 1)
    assert both.sum() > 50
    error = np.linalg.norm(small.landmarks[both] - moving_track.landmarks[both], axis=-1)
    assert np.median(error) < 3.0


@needs_ffmpeg
@pytest.mark.parametrize("make, reason", [(two_faces_video, "several_faces"), (no_face_video, "no_face"),
                                          (tiny_face_video, "face_too_small")])
def test_unusable_videos_are_rejected_with_the_right_reason(make, reason, tmp_path):
    track = track_faces(make(tmp_path / "v.mp4", seconds=1.2))
    runs, rejected = usable_runs(track, min_face_size=64, min_frames=10)
    assert runs == []
    assert rejected.most_common(1)[0][0] == reason
    assert rejected[reason] >= 0.8 * len(track.n_faces)
    assert np.isnan(track.landmarks[track.n_faces != 1]).all()


def test_usable_runs_splits_at_bad_frames_and_counts_reasons():
    n_faces = np.array([1] * 10 + [0] * 3 + [1] * 4 + [2] * 2 + [1] * 12, np.int8)
    size = np.full(31, 100, np.float32)
    size[25:27] = 20  # two small-face frames inside the last run
    track = FaceTrack(np.zeros((31, 478, 2), np.float32), n_faces, size)
    runs, rejected = usable_runs(track, min_face_size=64, min_frames=5)
    assert runs == [(0, 10), (19, 25)]  # (13, 17) and (27, 31) are shorter than 5 frames
    assert rejected == {"no_face": 3, "several_faces": 2, "face_too_small": 2}
    assert usable_runs(track, 64, 4)[0] == [(0, 10), (13, 17), (19, 25), (27, 31)]


def test_true_runs():
    assert true_runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]
    assert true_runs(np.zeros(4, bool)) == []


def test_smooth_landmarks_reduces_jitter_and_respects_gaps():
    rng = np.random.default_rng(0)
    t = np.arange(40, dtype=np.float32)
    clean = np.stack([10 + 0.5 * t, 20 + 0.2 * t], axis=-1)[:, None, :].repeat(478, axis=1)  # (40, 478, 2)
    noisy = clean + rng.normal(0, 1.0, clean.shape).astype(np.float32)
    noisy[18:21] = np.nan  # a gap
    noisy[21:] += 500  # a jump across the gap that must not leak backwards
    smooth = smooth_landmarks(noisy, window=7)
    assert np.isnan(smooth[18:21]).all() and np.isfinite(smooth[:18]).all() and np.isfinite(smooth[21:]).all()
    target = clean.copy()
    target[21:] += 500
    for part in (slice(0, 18), slice(21, 40)):
        assert np.abs(smooth[part] - target[part]).mean() < 0.7 * np.abs(noisy[part] - target[part]).mean()
    assert np.abs(smooth[:18] - target[:18]).max() < 5  # no smear of the +500 jump
    short = np.full((3, 478, 2), np.nan, np.float32)
    short[1] = 7.0
    assert np.array_equal(smooth_landmarks(short)[1], short[1])  # 1-frame run left alone


@needs_ffmpeg
def test_track_covers_every_frame_of_a_normalised_video(tmp_path):
    from data_prep.workflow.normalise import normalise

    media = normalise(face_video(tmp_path / "src.mp4", seconds=1.3, size=(320, 240)), tmp_path)
    track = track_faces(media.video)
    assert len(track.n_faces) == len(track.face_size) == len(track.landmarks) == media.n_frames
    assert (track.n_faces == 1).mean() > 0.9
