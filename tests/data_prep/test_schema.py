"""The shard sample contract round-trips and decodes windows without the whole clip."""

import numpy as np
import pytest

from data_prep import schema
from tests.helpers.clip_factory import make_clip


def test_sample_round_trip():
    clip = make_clip(n_frames=20, size=48)
    clip.phone_ids = np.arange(20, dtype=np.int16) - 1
    clip.textgrid = "File type = \"ooTextFile\""
    sample = schema.encode_sample(clip, jpeg_quality=100)
    assert sample["__key__"] == "src_0000" and "." not in sample["__key__"]
    back = schema.decode_sample(sample)
    assert back.frames.shape == clip.frames.shape
    assert np.abs(back.frames.astype(int) - clip.frames).mean() < 12  # JPEG, not bit-exact
    np.testing.assert_array_equal(back.audio, clip.audio)
    np.testing.assert_allclose(back.landmarks, clip.landmarks, atol=0.02)
    np.testing.assert_array_equal(back.phone_ids, clip.phone_ids)
    assert back.meta == clip.meta and back.textgrid == clip.textgrid


def test_window_decode_matches_full_decode():
    clip = make_clip(n_frames=25, size=32)
    mjpeg, index = schema.encode_frames(clip.frames)
    full = schema.decode_frames(mjpeg, index)
    np.testing.assert_array_equal(schema.decode_frames(mjpeg, index, 7, 23), full[7:23])
    with pytest.raises(IndexError):
        schema.decode_frames(mjpeg, index, 20, 26)
    half = schema.decode_frames(mjpeg, index, 7, 23, reduce=2)  # libjpeg DCT-scaled decode
    assert half.shape == (16, 16, 16, 3)
    assert np.abs(half.astype(int) - full[7:23, ::2, ::2]).mean() < 20
    with pytest.raises(ValueError, match="reduce"):
        schema.decode_frames(mjpeg, index, reduce=3)


def test_inconsistent_clip_is_rejected():
    clip = make_clip(n_frames=10)
    clip.audio = clip.audio[:-1]
    with pytest.raises(ValueError, match="audio has"):
        schema.encode_sample(clip)


def test_sample_key_is_dot_free():
    assert schema.sample_key("yt.abc/def 1", 3) == "yt-abc-def-1_0003"
