"""Tests for data_prep.workflow.shots: cut detection on a generated hard cut, clip segmentation."""

from __future__ import annotations

import pytest

from data_prep.workflow.normalise import normalise
from data_prep.workflow.shots import detect_shots, segment_clips
from tests.helpers.video_helpers import face_video, ffmpeg_available, hard_cut_video

needs_ffmpeg = pytest.mark.skipif(not ffmpeg_available(), reason="needs ffmpeg and ffprobe")


@needs_ffmpeg
def test_detect_shots_finds_the_hard_cut(tmp_path):
    media = normalise(hard_cut_video(tmp_path / "cut.mp4", seconds_each=2.0), tmp_path)
    shots = detect_shots(media.video)
    assert len(shots) == 2
    assert shots[0][0] == 0 and shots[-1][1] == media.n_frames
    assert shots[0][1] == shots[1][0]
    assert abs(shots[0][1] - 50) <= 1  # the cut is at 2.0 s = frame 50 at 25 fps


@needs_ffmpeg
def test_detect_shots_one_shot_for_a_continuous_video(tmp_path):
    media = normalise(face_video(tmp_path / "one.mp4", seconds=2.0), tmp_path)
    assert detect_shots(media.video) == [(0, media.n_frames)]


def test_segment_clips_splits_and_keeps_long_tails():
    clips = segment_clips([(0, 110), (110, 130), (130, 135)], clip_frames=50, min_frames=16)
    assert clips == [(0, 50), (50, 100), (110, 130)]
    assert segment_clips([(0, 116)], 50, 16) == [(0, 50), (50, 100), (100, 116)]


def test_segment_clips_rejects_nonsense():
    with pytest.raises(ValueError, match="clip_frames"):
        segment_clips([(0, 10)], 0, 5)
