"""Audio windows by feature kind (data_prep/audio_features.py): LatentSync's mel windows as its datasets cut
them, and the 100 Hz kinds exactly as the plain ``4 s .. 4 (s + n)`` slices they always were."""

from __future__ import annotations

import numpy as np
import pytest

from data_prep.audio_features import (
    audio_context,
    audio_window,
    clip_features,
    context_steps,
    frames_covered,
    window_steps,
)
from data_prep.latentsync_audio import last_window_frame, syncnet_mel, syncnet_mel_window
from tests.helpers.latentsync_inputs import SHORT_SAMPLES, SHORT_SEED, make_audio


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return make_audio(SHORT_SAMPLES, SHORT_SEED)  # 1.305 s, not a whole number of frames


def test_latentsync_mel_windows_equal_latentsync_crops_up_to_the_last_valid_window(audio):
    feats = clip_features(audio, "latentsync_mel", 80)
    mel = syncnet_mel(audio)
    assert feats.dtype == np.float32 and feats.shape == mel.shape == (80, 1 + SHORT_SAMPLES // 200)
    covered = frames_covered(feats.shape[1], "latentsync_mel", 16)
    last = covered - 16
    assert last == last_window_frame(mel.shape[1]) == 16  # the fixture's last full 52-column window
    for start in (0, 1, 3, 7, 15, last):
        win = audio_window(feats, "latentsync_mel", start, 16)
        assert win.shape == (80, 52) == (80, window_steps("latentsync_mel", 16))
        np.testing.assert_array_equal(win, syncnet_mel_window(mel, start)[0].astype(np.float32))
    with pytest.raises(ValueError, match="outside"):  # LatentSync skips this sample; we say so
        audio_window(feats, "latentsync_mel", last + 1, 16)


@pytest.mark.parametrize("n_frames", [16, 50, 123])
def test_a_clip_of_whole_frames_covers_all_its_frames(n_frames):
    clip = make_audio(640 * n_frames, 4)
    n_steps = clip_features(clip, "latentsync_mel", 80).shape[1]
    assert frames_covered(n_steps, "latentsync_mel", 16) == n_frames
    assert frames_covered(n_steps, "mel", 16) == n_steps // 4


def test_latentsync_offset_context_holds_every_shifted_window(audio):
    feats = clip_features(np.concatenate([audio, audio]), "latentsync_mel", 80)
    covered, m = frames_covered(feats.shape[1], "latentsync_mel", 16), 5
    for start in (m, m + 1, m + 3, covered - 16 - m):
        ctx, offsets = audio_context(feats, "latentsync_mel", start, 16, m)
        assert ctx.shape == (80, context_steps("latentsync_mel", 16, m)) and offsets.shape == (2 * m + 1,)
        for k in range(2 * m + 1):  # the windows are not a fixed stride apart at 80 Hz
            np.testing.assert_array_equal(ctx[:, offsets[k]:offsets[k] + 52],
                                          audio_window(feats, "latentsync_mel", start - m + k, 16))


@pytest.mark.parametrize("kind,bins", [("mel", 80), ("mfcc", 13)])
def test_100hz_kinds_are_the_plain_slices(audio, kind, bins):
    feats = clip_features(audio, kind, bins)
    n, m = 16, 4
    for start in (0, 5, frames_covered(feats.shape[1], kind, n) - n):
        assert audio_window(feats, kind, start, n).tobytes() == feats[:, 4 * start:4 * (start + n)].tobytes()
    ctx, offsets = audio_context(feats, kind, 6, n, m)
    assert ctx.tobytes() == feats[:, 4 * (6 - m):4 * (6 - m) + 4 * (n + 2 * m)].tobytes()
    assert offsets.tolist() == [4 * k for k in range(2 * m + 1)]


def test_unknown_kind_and_wrong_bins_name_the_field(audio):
    with pytest.raises(ValueError, match="data.audio_kind='wav2vec'"):
        clip_features(audio, "wav2vec", 80)
    with pytest.raises(ValueError, match="data.n_audio_bins=40"):
        clip_features(audio, "latentsync_mel", 40)
