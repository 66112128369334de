"""Tests for data_prep.workflow.normalise on small generated mp4s (30 fps, 44.1/48 kHz stereo)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from data_prep.workflow.drops import REASONS, Dropped
from data_prep.workflow.normalise import count_frames, normalise
from tests.helpers.video_helpers import face_video, ffmpeg_available, render_moving, scene_rgb, truncated_copy, write_video

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="needs ffmpeg and ffprobe")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """3 s, 30 fps, 400x300 (taller than max_height below), 48 kHz stereo sine."""
    return face_video(tmp_path_factory.mktemp("src") / "talk.mp4", seconds=3.0, fps=30, size=(400, 300),
                      audio="sine", sample_rate=48_000)


def _stream(path, entry):
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", f"stream={entry}",
           "-of", "csv=p=0", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def test_normalise_makes_25fps_cfr_video_and_frame_aligned_audio(source, tmp_path):
    media = normalise(source, tmp_path, max_height=240)
    assert media.video.exists() and media.video.parent == tmp_path
    assert _stream(media.video, "r_frame_rate") == "25/1"
    assert (media.width, media.height) == (320, 240)  # 400x300 scaled to height 240, aspect kept
    assert abs(media.n_frames - 75) <= 1  # 3 s at 25 fps
    assert media.n_frames == count_frames(media.video)
    assert media.audio.dtype == np.int16 and media.audio.shape == (media.n_frames * 640,)
    assert media.duration == pytest.approx(media.n_frames / 25)
    # the 440 Hz sine survived the resampling to 16 kHz: spectrum peaks at 440 Hz
    spectrum = np.abs(np.fft.rfft(media.audio[:16000].astype(np.float64)))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) <= 2
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"


def test_normalise_cuts_start_end_and_keeps_small_videos_unscaled(source, tmp_path):
    media = normalise(source, tmp_path, start=1.0, end=2.6)
    assert (media.width, media.height) == (400, 300)
    assert media.n_frames == 40  # 1.6 s at 25 fps
    assert len(media.audio) == 40 * 640


def test_normalise_noise_at_44k(tmp_path):
    src = face_video(tmp_path / "noise.mp4", seconds=1.5, audio="noise", sample_rate=44_100)
    media = normalise(src, tmp_path / "out")
    assert len(media.audio) == media.n_frames * 640
    assert np.abs(media.audio).max() > 1000


@pytest.mark.parametrize("kind, reason", [("no_audio", "no_audio_stream"), ("silent", "silence"),
                                          ("truncated", "corrupt_file"), ("not_media", "corrupt_file"),
                                          ("truncated_faststart", "corrupt_file"),
                                          ("short", "too_short"), ("audio_only", "no_video_stream")])
def test_normalise_drops_with_reason(kind, reason, source, tmp_path):
    if kind == "no_audio":
        src = face_video(tmp_path / "mute.mp4", seconds=1.5, audio=None)
    elif kind == "silent":
        src = face_video(tmp_path / "silent.mp4", seconds=1.5, audio="silent")
    elif kind == "truncated":
        src = truncated_copy(source, tmp_path / "cut.mp4", 0.5)
    elif kind == "truncated_faststart":  # index at the front: ffmpeg decodes the first half without error
        whole = tmp_path / "faststart.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c", "copy", "-movflags", "+faststart",
                        str(whole)], check=True)
        src = truncated_copy(whole, tmp_path / "cut.mp4", 0.5)
    elif kind == "not_media":
        src = tmp_path / "page.mp4"
        src.write_text("<html>This video is unavailable</html>")
    elif kind == "short":
        src = write_video(tmp_path / "short.mp4", render_moving(scene_rgb(), 15, (160, 120), 1.0), fps=30)
    else:
        src = tmp_path / "speech.m4a"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(src)],
                       check=True)
    with pytest.raises(Dropped) as info:
        normalise(src, tmp_path / "out", min_seconds=1.0)
    assert info.value.reason == reason and info.value.stage == "normalise"
    assert str(src) in info.value.detail
    assert not list((tmp_path / "out").glob("*.mp4")), "no output may be left for a dropped source"


def test_cut_past_the_end_is_too_short(source, tmp_path):
    with pytest.raises(Dropped, match="too_short"):
        normalise(source, tmp_path, start=2.5, end=9.0)


def test_dropped_rejects_unknown_reason_and_lists_required_ones():
    with pytest.raises(ValueError, match="unknown drop reason"):
        Dropped("x", "because")
    for reason in ("unreachable_url", "download_failed", "corrupt_file", "no_video_stream", "no_audio_stream",
                   "silence", "too_short", "no_face", "several_faces", "face_too_small", "no_usable_segment",
                   "alignment_failed", "out_of_sync", "low_sync_confidence"):
        assert reason in REASONS
