"""LSE-C / LSE-D protocol: windowing, the 31-shift distances, the aggregation, and the reference port."""

import numpy as np
import pytest
import python_speech_features
import torch
from torch import nn

from evaluation import lse
from evaluation.fast_syncnet import SyncNetRunner
from evaluation.reference_lse import calc_pdist_loop, reference_scores


class ProbeSyncNet(nn.Module):
    """Embeddings that expose their input: frame t's pixel (0, 0) and MFCC row 0."""

    def forward_lip(self, x):  # (B, 3, 5, H, W) -> (B, 5)
        return x[:, 0, :, 0, 0]

    def forward_aud(self, x):  # (B, 1, 13, 20) -> (B, 20)
        return x[:, 0, 0, :]


class TinySyncNet(nn.Module):
    """A cheap random stand-in with syncnet_v2's interface and 16-d embeddings."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.lip = nn.Linear(5 * 3 * 4 * 4, 16)
        self.aud = nn.Linear(13 * 20, 16)

    def forward_lip(self, x):  # (B, 3, 5, H, W)
        pooled = nn.functional.adaptive_avg_pool3d(x, (5, 4, 4)) / 255.0
        return self.lip(pooled.flatten(1))

    def forward_aud(self, x):  # (B, 1, 13, 20)
        return self.aud(x.flatten(1) / 100.0)


def clip(n_frames, n_samples, seed=0, size=32):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n_frames, size, size, 3), dtype=np.uint8)
    frames[:, 0, 0, 0] = np.arange(n_frames) % 256
    audio = rng.integers(-8000, 8000, n_samples).astype(np.int16)
    return frames, audio


@pytest.mark.parametrize("n_frames,n_samples,expected", [(30, 30 * 640, 25), (30, 20 * 640 + 639, 15),
                                                         (6, 10 * 640, 1), (5, 5 * 640, 0), (12, 100, -5)])
def test_n_windows(n_frames, n_samples, expected):
    assert lse.n_windows(n_frames, n_samples) == expected


def test_windows_use_frames_i_to_i_plus_4_and_mfcc_columns_4i_to_4i_plus_19():
    frames, audio = clip(23, 21 * 640 + 300)
    mfcc = torch.from_numpy(lse.mfcc_features(audio))
    n = lse.n_windows(len(frames), len(audio))
    assert n == 16
    video_emb, audio_emb = lse.embed_windows(ProbeSyncNet(), torch.from_numpy(frames), mfcc, n, batch_size=5)
    for i in range(n):
        assert video_emb[i].tolist() == list(range(i, i + 5))
        assert torch.equal(audio_emb[i], mfcc[0, 4 * i:4 * i + 20])


def test_mfcc_is_python_speech_features_on_raw_int16():
    _, audio = clip(1, 8000)
    expected = python_speech_features.mfcc(audio.astype(np.float64), 16000).T
    got = lse.mfcc_features(audio)
    assert got.shape == (13, expected.shape[1])
    np.testing.assert_allclose(got, expected.astype(np.float32), rtol=1e-6)
    rescaled = python_speech_features.mfcc(audio / 32768.0, 16000).T  # what a float loader would feed
    assert np.abs(got - rescaled).max() > 1.0


def test_shift_distances_match_naive_loop():
    torch.manual_seed(1)
    video, audio = torch.randn(40, 32), torch.randn(40, 32)
    got = lse.shift_distances(video, audio)
    assert got.shape == (40, 31)
    naive = torch.stack(calc_pdist_loop(video, audio))
    assert torch.equal(got, naive)
    # one entry by hand: shift k = j - 15, zero vector outside the clip, eps 1e-6 added to the difference
    i, j = 3, 2  # audio index 3 + 2 - 15 < 0
    assert torch.isclose(got[i, j], torch.linalg.norm(video[i] + 1e-6))
    assert torch.isclose(got[10, 17], torch.linalg.norm(video[10] - audio[12] + 1e-6))


def test_scores_min_median_offset():
    dists = torch.rand(12, 31) + 5.0
    dists[:, 19] -= 3.0  # audio 4 windows later matches best
    res = lse.lse_from_distances(dists)
    mdist = dists.mean(0)
    assert res.offset == 15 - 19 == -4
    assert res.lse_d == pytest.approx(float(mdist.min()), rel=1e-6)
    assert res.lse_c == pytest.approx(float(mdist.median() - mdist.min()), rel=1e-5)
    assert res.window_confidence().shape == (12,)


def test_fast_scores_identical_to_reference_port():
    frames, audio = clip(40, 38 * 640 + 17, seed=3)
    model = TinySyncNet().eval()
    offset, conf, dist, mdist = reference_scores(model, frames, audio)
    res = lse.lse_scores(model, frames, audio, batch_size=20)  # same batches: bit-identical
    assert (res.offset, res.lse_c, res.lse_d) == (offset, conf, dist)
    np.testing.assert_array_equal(res.mdist, mdist.numpy())
    other = lse.lse_scores(model, frames, audio, batch_size=7)  # matmul blocking may change the last bit
    np.testing.assert_allclose(other.mdist, mdist.numpy(), rtol=1e-6)
    assert other.offset == offset


def test_too_short_clip_raises():
    frames, audio = clip(5, 20 * 640)
    with pytest.raises(ValueError, match="at least 6 frames"):
        lse.lse_scores(TinySyncNet(), frames, audio)


def test_flattened_lip_tower_matches_syncnet_v2():
    from lipsync_train.networks import SyncNetV2

    torch.manual_seed(0)
    model = SyncNetV2().eval()
    x = torch.rand(2, 3, 5, 224, 224) * 255
    with torch.no_grad():
        expected = model.forward_lip(x)
        runner = SyncNetRunner(model, flatten=True)
        assert runner.lip2d is not None
        got = runner.forward_lip(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_syncnet_v2_scores_identical_to_reference_port():
    from lipsync_train.networks import SyncNetV2

    torch.manual_seed(0)
    model = SyncNetV2().eval()
    frames, audio = clip(12, 12 * 640, seed=5, size=224)
    offset, conf, dist, _ = reference_scores(model, frames, audio)
    res = lse.lse_scores(model, frames, audio, batch_size=64)
    assert (res.offset, res.lse_c, res.lse_d) == (offset, conf, dist)
