"""Shapes of both SyncNet architectures, the official syncnet_v2 key names, and the audio features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_prep.audio_features import log_mel, mfcc
from lipsync_train.networks import StableSyncNet, SyncNetV2, embedding_distance

# Keys and shapes of syncnet_python's syncnet_v2.model (Conv/BN/Linear positions inside each nn.Sequential).
OFFICIAL_V2_SHAPES = {
    "netcnnaud.0.weight": (64, 1, 3, 3), "netcnnaud.1.running_var": (64,), "netcnnaud.4.weight": (192, 64, 3, 3),
    "netcnnaud.8.weight": (384, 192, 3, 3), "netcnnaud.11.weight": (256, 384, 3, 3),
    "netcnnaud.14.weight": (256, 256, 3, 3), "netcnnaud.18.weight": (512, 256, 5, 4), "netcnnaud.19.bias": (512,),
    "netfcaud.0.weight": (512, 512), "netfcaud.1.running_mean": (512,), "netfcaud.3.weight": (1024, 512),
    "netcnnlip.0.weight": (96, 3, 5, 7, 7), "netcnnlip.4.weight": (256, 96, 1, 5, 5),
    "netcnnlip.8.weight": (256, 256, 1, 3, 3), "netcnnlip.11.weight": (256, 256, 1, 3, 3),
    "netcnnlip.14.weight": (256, 256, 1, 3, 3), "netcnnlip.18.weight": (512, 256, 1, 6, 6),
    "netcnnlip.19.running_mean": (512,), "netfclip.0.weight": (512, 512), "netfclip.3.bias": (1024,),
}
CONV_BN_INDICES = {"netcnnaud": (0, 4, 8, 11, 14, 18), "netcnnlip": (0, 4, 8, 11, 14, 18)}


def test_syncnet_v2_state_dict_matches_the_official_layout():
    state = SyncNetV2().state_dict()
    for key, shape in OFFICIAL_V2_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    expected = set()
    for tower, convs in CONV_BN_INDICES.items():
        for i in convs:
            expected |= {f"{tower}.{i}.weight", f"{tower}.{i}.bias"}
            expected |= {f"{tower}.{i + 1}.{p}" for p in ("weight", "bias", "running_mean", "running_var",
                                                           "num_batches_tracked")}
    for head in ("netfcaud", "netfclip"):
        expected |= {f"{head}.0.weight", f"{head}.0.bias", f"{head}.3.weight", f"{head}.3.bias"}
        expected |= {f"{head}.1.{p}" for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    assert set(state) == expected


def test_syncnet_v2_shapes_with_a_tiny_batch():
    net = SyncNetV2().eval()
    with torch.no_grad():
        a = net.forward_aud(torch.randn(2, 1, 13, 20))  # the official entry points
        v = net.forward_lip(torch.rand(2, 3, 5, 224, 224) * 255)
        assert a.shape == v.shape == (2, 1024)
        d = net(torch.rand(2, 5, 3, 224, 224) * 255, torch.randn(2, 13, 20))
    assert d.shape == (2,) and torch.all(d >= 0)
    with pytest.raises(ValueError, match="5, 3, 224, 224"):
        net.embed_video(torch.rand(2, 5, 3, 112, 112))
    with pytest.raises(ValueError, match="fixed at 5 frames"):
        SyncNetV2(n_frames=16)


def test_stable_syncnet_shapes_and_gradients():
    net = StableSyncNet(n_frames=16, image_size=64, n_mels=80, embed_dim=32,
                        video_channels=[8, 16, 32, 32], audio_channels=[8, 16, 32, 32])
    video = torch.rand(3, 16, 3, 32, 64) * 255  # (B, T, 3, H/2, W)
    audio = torch.randn(3, 80, 64)  # (B, n_mels, 4T)
    assert net.embed_video(video).shape == net.embed_audio(audio).shape == (3, 32)
    d = net(video, audio)
    assert d.shape == (3,) and torch.all((d >= 0) & (d <= 2))
    d.sum().backward()
    assert net.video_tower.stem[0].weight.grad is not None and net.audio_tower.stem[0].weight.grad is not None
    with pytest.raises(ValueError, match=r"\(B, 16, 3, 32, 64\)"):
        net.embed_video(torch.rand(3, 16, 3, 64, 64))
    net128 = StableSyncNet(image_size=128, embed_dim=16, video_channels=[8, 8, 8, 8, 8], audio_channels=[8, 8])
    assert net128.embed_video(torch.rand(1, 16, 3, 64, 128)).shape == (1, 16)


def test_embedding_distance_kinds():
    a, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert embedding_distance(a, v, "cosine").item() == pytest.approx(1.0)
    assert embedding_distance(a, v, "euclidean").item() == pytest.approx(5 ** 0.5, rel=1e-4)
    with pytest.raises(ValueError, match="cosine"):
        embedding_distance(a, v, "manhattan")


def test_audio_features_run_at_four_steps_per_video_frame():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(25 * 640) * 3000).astype(np.int16)  # 25 frames
    mel, mf = log_mel(audio), mfcc(audio)
    assert mel.shape == (80, 100) and mf.shape == (13, 100)
    assert abs(mel.mean()) < 1e-3 and np.isfinite(mf).all()
    loud = audio.copy()
    loud[40 * 640 // 4: 60 * 640 // 4] = 0  # silence frames 10..15 -> low energy there
    assert mfcc(loud)[0, 42:58].mean() < mf[0, 42:58].mean() - 5


def test_mfcc_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    audio = (np.random.default_rng(1).standard_normal(10 * 640) * 2000).astype(np.int16)
    ref = psf.mfcc(audio, 16000).T  # (13, steps)
    ours = mfcc(audio)
    np.testing.assert_allclose(ours[:, :ref.shape[1]], ref, rtol=1e-4, atol=1e-3)
