"""The UNet's parts on tiny random models: input-channel assembly, audio windows at clip edges, the mouth mask,
SD-weight loading with mismatched layers, the noise schedule's targets, temporal layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from data_prep import CONF_DIR
from lipsync_train.networks.audio_encoder import cached_clip_features
from lipsync_train.networks.whisper_encoder import WhisperAudioEncoder
from lipsync_train.networks.unet import LipSyncUNet, assemble_unet_input, load_pretrained_unet
from lipsync_train.networks.vae import FrozenVAE
from data_prep.mouth_mask import MouthRegion, latent_mask, mouth_mask, soft_mask
from lipsync_train.networks.noise_schedule import NoiseSchedule
from tests.helpers.unet_helpers import TINY_UNET, TINY_VAE, TINY_WHISPER, tiny_parts

def test_input_channels_are_noisy_mask_masked_reference_in_that_order():
    n, h = 3, 8
    parts = [torch.full((n, 4, h, h), 1.0), torch.full((n, 1, h, h), 2.0), torch.full((n, 4, h, h), 3.0),
             torch.full((n, 4, h, h), 4.0)]
    x = assemble_unet_input(*parts)
    assert x.shape == (n, 13, h, h)
    assert x[:, :4].eq(1).all() and x[:, 4].eq(2).all() and x[:, 5:9].eq(3).all() and x[:, 9:].eq(4).all()
    with pytest.raises(ValueError, match="reference"):
        assemble_unet_input(parts[0], parts[1], parts[2], torch.zeros(n, 4, h + 1, h))
    with pytest.raises(ValueError, match="in_channels"):
        LipSyncUNet({**TINY_UNET, "in_channels": 9})


def test_unet_forward_shape_and_audio_matters():
    net, *_ = tiny_parts()
    lat = torch.randn(2, 4, 8, 8)
    args = (lat, torch.ones(2, 1, 8, 8), lat, lat, torch.tensor([5, 50]))
    a = net(*args, torch.randn(2, 10, 32))
    b = net(*args, torch.randn(2, 10, 32))
    assert a.shape == (2, 4, 8, 8) and not torch.allclose(a, b)


def test_audio_windows_clamp_at_clip_edges():
    enc = WhisperAudioEncoder(config=TINY_WHISPER, window=2)
    assert enc.tokens_per_frame == 3 * 5 * 2 and enc.chunk_frames == 25
    # token j of layer l carries the value 1000 l + j, so gathered values name their source token
    hidden = (torch.arange(3)[:, None] * 1000 + torch.arange(50)[None]).float()  # (H, Ntok)
    hidden = hidden[None, :, :, None].expand(1, 3, 50, 2).clone()  # (1, H, Ntok, D)
    out = enc.frame_tokens(hidden, torch.tensor([0]), 25, torch.tensor([20]))  # 20 real frames of 25
    assert out.shape == (1, 25, 30, 2)
    layer0 = out[0, :, :10, 0]  # (T, 10) tokens of layer 0: frames t-2..t+2, two tokens each
    assert layer0[0].tolist() == [0, 1, 0, 1, 0, 1, 2, 3, 4, 5]  # frames -2, -1 clamp to frame 0
    assert layer0[10].tolist() == list(range(16, 26))
    assert layer0[19].tolist() == [34, 35, 36, 37, 38, 39, 38, 39, 38, 39]  # frames 20, 21 clamp to 19
    assert out[0, 5, 10:20, 0].tolist() == [1000 + v for v in layer0[5].tolist()]  # layer 1 follows layer 0
    shifted = enc.frame_tokens(hidden, torch.tensor([7]), 3, torch.tensor([20]))
    assert torch.equal(shifted[0], out[0, 7:10])


def test_clip_features_chunk_and_cache(tmp_path):
    enc = WhisperAudioEncoder(config=TINY_WHISPER)
    audio = (np.random.default_rng(0).standard_normal(640 * 60) * 3000).astype(np.int16)  # 60 frames, 3 chunks
    feats = enc.clip_features(audio)
    assert feats.shape == (60, 30, 32) and torch.isfinite(feats).all()
    assert torch.allclose(enc.clip_features(audio[:640 * 25]), feats[:25], atol=1e-5)  # chunk = 25 frames
    cached = cached_clip_features(enc, audio, tmp_path / "clip.npy")
    assert (tmp_path / "clip.npy").is_file() and torch.allclose(cached_clip_features(enc, audio, tmp_path / "clip.npy"), cached)


def test_tiny_recipe_audio_tokens_carry_the_audio_not_only_the_position():
    """The tiny recipe's random Whisper must give tokens that differ with the audio; at Whisper's own init_std
    (0.02) the sinusoidal positions make up ~98 % of every token and the UNet never learns to listen."""
    whisper = OmegaConf.load(Path(CONF_DIR) / "model" / "unet_tiny.yaml").audio_encoder.config
    rng = np.random.default_rng(0)
    t = np.arange(640 * 50) / 16000
    speech = (np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0) * 9000).astype(np.int16)
    other = (rng.standard_normal(len(t)) * 3000).astype(np.int16)

    def audio_share(init_std: float) -> float:
        torch.manual_seed(0)
        enc = WhisperAudioEncoder(config={**OmegaConf.to_container(whisper), "init_std": init_std})
        a, b = enc.clip_features(speech), enc.clip_features(other)
        return float((a - b).std() / a.std())

    assert audio_share(whisper.init_std) > 0.4
    assert audio_share(0.02) < 0.1  # what the recipe avoids


def test_mouth_mask_covers_the_template_mouth_not_the_eyes():
    from data_prep.face_align import FACE_TEMPLATE

    size = 64
    m = mouth_mask(size)
    for idx in (61, 291):  # mouth corners inside
        x, y = FACE_TEMPLATE[idx]
        assert m[int(y * size), int(x * size)] == 1
    for idx in (33, 263, 168, 1):  # eyes, nose bridge and tip outside
        x, y = FACE_TEMPLATE[idx]
        assert m[int(y * size), int(x * size)] == 0
    lm = latent_mask(size, 4)
    assert lm.shape == (1, 1, 16, 16) and lm.sum() >= m.sum() / 16  # any touched latent cell is masked
    small = mouth_mask(size, MouthRegion(top=0.7, bottom=0.8, left=0.4, right=0.6))
    assert small.sum() < m.sum()
    soft = soft_mask(size)
    assert 0 < soft[int(MouthRegion().top * size) + 1, size // 2] < 1 and soft[int(0.8 * size), size // 2] > 0.99
    with pytest.raises(ValueError, match="mouth region"):
        MouthRegion(top=0.9, bottom=0.5)


def test_sd_weights_load_skipping_mismatched_layers(tmp_path):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(1)
    sd_like = UNet2DConditionModel(**{**TINY_UNET, "in_channels": 4, "cross_attention_dim": 48})  # "SD": 4 ch, text 48
    (tmp_path / "unet").mkdir()
    sd_like.save_pretrained(tmp_path / "unet")
    net = LipSyncUNet(TINY_UNET)
    report = load_pretrained_unet(net.unet, tmp_path)
    theirs, ours = sd_like.state_dict(), net.unet.state_dict()
    assert report["partial"] == ["conv_in.weight"]
    assert torch.equal(ours["conv_in.weight"][:, :4], theirs["conv_in.weight"])
    assert ours["conv_in.weight"][:, 4:].abs().sum() == 0
    skipped = [s.split(":")[0] for s in report["skipped"]]
    assert skipped and all(("attn2.to_k" in s or "attn2.to_v" in s) for s in skipped)
    assert not torch.equal(ours[skipped[0]][:, :1], theirs[skipped[0]][:, :1])  # kept its own init
    assert torch.equal(ours["conv_out.weight"], theirs["conv_out.weight"]) and "conv_out.weight" in report["loaded"]
    # the constructor path does the same from a weights file
    torch.save(theirs, tmp_path / "sd.pt")
    assert torch.equal(LipSyncUNet(TINY_UNET, pretrained=str(tmp_path / "sd.pt")).unet.state_dict()["conv_out.bias"],
                       theirs["conv_out.bias"])
    with pytest.raises(FileNotFoundError, match="pretrained"):
        load_pretrained_unet(net.unet, tmp_path / "nope")


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_schedule_targets_and_one_step_estimate_invert(kind):
    s = NoiseSchedule(prediction_type=kind)
    x0, eps = torch.randn(4, 4, 8, 8), torch.randn(4, 4, 8, 8)
    t = torch.tensor([0, 10, 500, 999])
    noisy = s.add_noise(x0, eps, t)
    assert torch.allclose(noisy, s.scheduler.add_noise(x0, eps, t), atol=1e-5)
    target = s.target(x0, eps, t)
    assert torch.allclose(target, eps if kind == "epsilon" else s.scheduler.get_velocity(x0, eps, t), atol=1e-5)
    assert torch.allclose(s.predict_x0(noisy, target, t), x0, atol=1e-3)
    assert type(s.sampler("ddim")).__name__ == "DDIMScheduler" and s.sampler().config.prediction_type == kind
    with pytest.raises(ValueError, match="prediction_type"):
        NoiseSchedule(prediction_type="sample")


def test_temporal_layers_start_as_identity_and_mix_frames():
    plain, *_ = tiny_parts(seed=3)
    temporal, *_ = tiny_parts(seed=3, temporal=True)
    lat = torch.randn(4, 4, 8, 8)
    args = (lat, torch.ones(4, 1, 8, 8), lat, lat, torch.tensor([5] * 4), torch.randn(4, 10, 32))
    assert torch.allclose(plain(*args), temporal(*args, num_frames=4), atol=1e-5)  # zero-initialised output
    for layer in temporal.temporal:
        torch.nn.init.normal_(layer.proj_out.weight, std=0.1)
    a = temporal(*args, num_frames=4)
    lat2 = lat.clone()
    lat2[3] += 1  # change frame 3 only: with temporal attention frame 0 changes too
    b = temporal(lat2, *args[1:], num_frames=4)
    assert not torch.allclose(a[0], b[0], atol=1e-6)
    # the temporal layers are additions beside the UNet: a plain model's weights load into a temporal one with
    # only the temporal layers missing, nothing unexpected, and the UNet's own tensors keep their names
    unet_keys = {k for k in temporal.state_dict() if not k.startswith("temporal.")}
    assert unet_keys == set(plain.state_dict())
    assert set(temporal.unet.state_dict()) == set(plain.unet.state_dict())
    result = temporal.load_state_dict(plain.state_dict(), strict=False)
    assert result.unexpected_keys == [] and result.missing_keys
    assert all(k.startswith("temporal.") for k in result.missing_keys)


def test_vae_is_frozen_and_round_trips_shapes():
    vae = FrozenVAE(config=TINY_VAE)
    assert not any(p.requires_grad for p in vae.parameters()) and vae.downsample == 4
    z = vae.encode(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert z.shape == (2, 4, 8, 8) and vae.decode(z).shape == (2, 3, 32, 32)
    vae.train()
    assert not vae.vae.training
    with pytest.raises(FileNotFoundError, match="pretrained"):
        FrozenVAE(pretrained="/nonexistent/vae")


def test_gradient_checkpointing_with_temporal_layers_backpropagates():
    net = LipSyncUNet(TINY_UNET, temporal=True, temporal_heads=2, gradient_checkpointing=True).train()
    assert net.unet.is_gradient_checkpointing
    lat = torch.randn(4, 4, 8, 8, requires_grad=True)
    out = net(lat, torch.ones(4, 1, 8, 8), lat, lat, torch.tensor([3] * 4), torch.randn(4, 10, 32), num_frames=2)
    out.square().mean().backward()
    assert lat.grad.abs().sum() > 0 and net.temporal[0].proj_out.weight.grad is not None
    assert net.unet.conv_in.weight.grad is not None
