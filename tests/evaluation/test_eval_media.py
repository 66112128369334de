"""Decoding for LSE: in-memory frames/audio must equal the reference's ffmpeg JPEG + WAV files."""

import subprocess

import cv2
import numpy as np
import pytest
from scipy.io import wavfile

from evaluation import media
from tests.helpers.video_helpers import ffmpeg_available
from tests.helpers.video_helpers import make_video

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed")


def test_jpeg_frames_equal_reference_dump(tmp_path):
    video = make_video(tmp_path / "a.mp4", n_frames=12, size=160)
    dump = tmp_path / "dump"
    dump.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-threads", "1", "-f", "image2",
                    str(dump / "%06d.jpg")], check=True)
    expected = np.stack([cv2.resize(cv2.imread(str(f)), (224, 224)) for f in sorted(dump.glob("*.jpg"))])
    got = media.read_frames(video)
    assert got.shape == expected.shape == (12, 224, 224, 3)
    np.testing.assert_array_equal(got, expected)
    raw = media.read_frames(video, jpeg=False)
    assert raw.shape == got.shape and not np.array_equal(raw, got)  # the JPEG round trip does change pixels


def test_audio_equals_reference_wav(tmp_path):
    video = make_video(tmp_path / "a.mkv", n_frames=20)
    wav = tmp_path / "audio.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-async", "1", "-ac", "1", "-vn", "-acodec",
                    "pcm_s16le", "-ar", "16000", str(wav)], check=True)
    rate, expected = wavfile.read(wav)
    got = media.read_audio(video)
    assert rate == 16000 and got.dtype == np.int16
    np.testing.assert_array_equal(got, expected)


def test_no_audio_is_reported(tmp_path):
    video = make_video(tmp_path / "silent.mp4", n_frames=10, audio=None)
    with pytest.raises(media.MediaError) as err:
        media.require_audio(video)
    assert err.value.reason == "no_audio"


def test_list_videos_accepts_containers(tmp_path):
    for name in ("b.mp4", "a.mkv", "c.MOV", "d.avi", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in media.list_videos(tmp_path)] == ["a.mkv", "b.mp4", "c.MOV", "d.avi"]


def test_split_mjpeg_roundtrip():
    jpgs = [cv2.imencode(".jpg", np.full((8, 8, 3), v, np.uint8))[1].tobytes() for v in (10, 200, 90)]
    assert media.split_mjpeg(b"".join(jpgs)) == jpgs
