"""LatentSync audio front ends (:mod:`data_prep.latentsync_audio`) against LatentSync's own outputs.

The fixtures in ``tests/fixtures/latentsync/`` were made by ``/work/ref/make_latentsync_fixtures.py`` with
LatentSync's code (commit in ``syncnet_whisper_provenance.json``; librosa 0.10.1, numpy 1.26.4). The test
audio is not stored: it comes from the integer-only generator below (a verbatim copy of the script's),
checked by sha256. Tolerance everywhere: max |ours - LatentSync| <= 1e-4 x std(LatentSync), float32.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from data_prep.latentsync_audio import (
    SYNCNET_MEL_WINDOW,
    last_window_frame,
    mel_window_start,
    syncnet_mel,
    syncnet_mel_window,
    syncnet_mel_windows,
    whisper_log_mel,
)
from tests.helpers.latentsync_inputs import FIXTURES, SHORT_SAMPLES, SHORT_SEED, LONG_SAMPLES, LONG_SEED, make_audio, sha256, assert_close


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURES / "latentsync_audio.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def short_audio(ref):
    audio = make_audio(SHORT_SAMPLES, SHORT_SEED)
    assert sha256(audio) == str(ref["short_audio_sha256"]), "test-audio generator drifted from the fixture script"
    return audio


def test_long_audio_generator_matches_fixture(ref):
    assert sha256(make_audio(LONG_SAMPLES, LONG_SEED)) == str(ref["long_audio_sha256"])


# ------------------------------------------------------------------ SyncNet mel
def test_syncnet_mel_whole_clip_matches_latentsync(ref, short_audio):
    mel = syncnet_mel(short_audio)
    assert mel.shape == (80, 1 + SHORT_SAMPLES // 200) and mel.dtype == np.float64
    assert_close(mel, ref["syncnet_mel"], "syncnet mel")
    assert_close(mel.astype(np.float32), ref["syncnet_mel"].astype(np.float32), "syncnet mel (float32)")


def test_int16_and_float_audio_give_the_same_mel(short_audio):
    as_float = short_audio.astype(np.float32) / 32768.0
    np.testing.assert_array_equal(syncnet_mel(short_audio), syncnet_mel(as_float))
    torch.testing.assert_close(whisper_log_mel(short_audio), whisper_log_mel(as_float), rtol=0, atol=0)


def test_syncnet_mel_windows_at_start_middle_end(ref, short_audio):
    mel = syncnet_mel(short_audio)
    frames = [int(i) for i in ref["syncnet_mel_window_frames"]]
    assert frames == [0, 8, 16, 17]
    for i in frames[:3]:
        window = syncnet_mel_window(mel, i)
        assert window.shape == (1, 80, SYNCNET_MEL_WINDOW) == ref[f"syncnet_mel_window_{i}"].shape
        assert_close(window, ref[f"syncnet_mel_window_{i}"], f"mel window at frame {i}")
    batch = syncnet_mel_windows(mel, frames[:3])
    assert batch.shape == (3, 1, 80, 52)
    # frame 17: LatentSync's slice has only 51 columns and its dataset skips the sample; we raise
    assert ref["syncnet_mel_window_17"].shape == (1, 80, 51)
    with pytest.raises(ValueError, match="51 of 52 columns"):
        syncnet_mel_window(mel, 17)
    assert last_window_frame(mel.shape[1]) == 16


def test_mel_window_start_is_latentsync_formula():
    for i in range(3000):
        assert mel_window_start(i) == int(80.0 * (i / float(25)))


# ------------------------------------------------------------------ Whisper log-mel
def test_whisper_log_mel_matches_latentsync(ref, short_audio):
    log_mel = whisper_log_mel(short_audio)
    assert log_mel.shape == (80, SHORT_SAMPLES // 160) and log_mel.dtype == torch.float32
    assert_close(log_mel, ref["short_log_mel"], "whisper log-mel")


def test_whisper_log_mel_clamps_with_the_whole_clip_max(short_audio):
    """The floor is max - 8 over the whole clip: the log-mel of a piece is not a slice of the clip's."""
    whole = whisper_log_mel(short_audio)
    assert float(whole.min()) >= float(whole.max()) - 2.0 - 1e-6  # (x + 4) / 4: a floor of 8 is 2 after scaling
    quiet = short_audio.copy()
    quiet[: len(quiet) // 2] //= 64
    piece = whisper_log_mel(quiet[: len(quiet) // 2])[:, :-3]  # away from the piece's own reflect padding
    same_rows_of_whole = whisper_log_mel(quiet)[:, : piece.shape[1]]
    assert float((piece - same_rows_of_whole).abs().max()) > 0.1
