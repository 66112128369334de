"""Our LatentSync UNet against LatentSync's own code, through fixtures made with it.

``tests/fixtures/latentsync/unet_small.pt`` was written by LatentSync's ``UNet3DConditionModel``
(bytedance/LatentSync a229c39, diffusers 0.32.2; the script is named in its ``provenance``) from a small
config with stage2.yaml's block pattern at three levels and motion modules everywhere: a checkpoint laid out
as LatentSync saves ``latentsync_unet.pt`` (``{"global_step", "state_dict"}``, every tensor perturbed away
from its initial value, fp16), fixed inputs (fp16) and LatentSync's float32 outputs for three calls: CFG
inference layout (audio ``(B*F, 50, D)``, batch 0 = zero audio), training layout (``(B, F, 50, D)``) at an odd
latent size with a float timestep, and no audio. It also holds stage2.yaml's config with the key count,
parameter count and key / shape digest of LatentSync's full-size model.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import torch

from lipsync_train.networks.latentsync_unet import (
    LatentSyncCheckpointError,
    LatentSyncUNet3D,
    LatentSyncUNetConfig,
    from_latentsync_config,
    load_latentsync_unet_state,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "latentsync" / "unet_small.pt"


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def model(fixture):
    torch.manual_seed(0)
    net = from_latentsync_config(fixture["config"]).eval()
    load_latentsync_unet_state(net, fixture["checkpoint"])
    return net


def run(net, case, **overrides):
    audio = case.get("encoder_hidden_states")
    args = {"sample": case["sample"].float(), "timestep": case["timestep"],
            "encoder_hidden_states": None if audio is None else audio.float(), **overrides}
    with torch.no_grad():
        return net(**args)


@pytest.mark.parametrize("case", ["cfg_bf", "train_bfsd_odd", "no_audio"])
def test_outputs_match_latentsync(fixture, model, case):
    ref = fixture["cases"][case]["output"]
    out = run(model, fixture["cases"][case])
    assert out.shape == ref.shape and out.dtype == torch.float32
    diff, std = (out - ref).abs().max().item(), ref.std().item()
    assert diff <= 1e-4 * std, f"{case}: max |ours - LatentSync| = {diff:.3g}, output std {std:.3g}"


def test_checkpoint_layout_and_keys_are_latentsyncs(fixture, model):
    ckpt = fixture["checkpoint"]
    assert set(ckpt) == {"global_step", "state_dict"}
    ours = model.state_dict()
    assert set(ours) == set(ckpt["state_dict"])  # the key-rename map is empty
    assert all(ours[k].shape == v.shape for k, v in ckpt["state_dict"].items())
    assert any(k.endswith("pos_encoder.pe") for k in ours)  # PE tables are checkpoint tensors


def test_every_tensor_is_filled_from_the_checkpoint(fixture, model):
    fresh = from_latentsync_config(fixture["config"]).state_dict()
    loaded = model.state_dict()
    untouched = [k for k in fresh if torch.equal(fresh[k], loaded[k])]
    assert not untouched, f"left at their initial values: {untouched}"
    wrong = [k for k, v in fixture["checkpoint"]["state_dict"].items() if not torch.equal(loaded[k], v.float())]
    assert not wrong, f"differ from the checkpoint: {wrong}"


def test_fresh_position_encoding_is_latentsyncs(fixture):
    key, value = fixture["unperturbed_pe"]["key"], fixture["unperturbed_pe"]["value"]
    fresh = from_latentsync_config(fixture["config"]).state_dict()[key]
    assert torch.equal(fresh, value)


def test_loader_names_every_leftover_key_and_shape_mismatch(fixture):
    net = from_latentsync_config(fixture["config"])
    before = copy.deepcopy(net.state_dict())
    state = dict(fixture["checkpoint"]["state_dict"])
    dropped = "up_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"
    dropped2 = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    state.pop(dropped)
    state.pop(dropped2)
    state["down_blocks.0.some_extra.weight"] = torch.zeros(3)
    state["conv_in.weight"] = torch.zeros(32, 9, 3, 3)  # e.g. a 9-channel (inpainting) conv_in
    with pytest.raises(LatentSyncCheckpointError) as err:
        load_latentsync_unet_state(net, {"state_dict": state})
    msg = str(err.value)
    for needle in (dropped, dropped2, "down_blocks.0.some_extra.weight",
                   "conv_in.weight: checkpoint (32, 9, 3, 3) vs model (32, 13, 3, 3)"):
        assert needle in msg
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "nothing may be loaded from a bad checkpoint"


def test_resnet_norms_are_over_all_frames(fixture, model):
    """LatentSync's resnet / output GroupNorms see (C/G, F, H, W) jointly: per-frame norms do not match."""
    cfg = dict(fixture["config"], use_inflated_groupnorm=True)
    per_frame = from_latentsync_config(cfg).eval()
    load_latentsync_unet_state(per_frame, fixture["checkpoint"])
    case = fixture["cases"]["cfg_bf"]
    diff = (run(per_frame, case) - case["output"]).abs().max().item()
    assert diff > 1e-2 * case["output"].std().item()


def test_audio_layouts_and_shape_errors(fixture, model):
    case = fixture["cases"]["cfg_bf"]
    b, _, f = case["sample"].shape[:3]
    flat = case["encoder_hidden_states"].float()
    per_clip = flat.reshape(b, f, *flat.shape[1:])
    assert torch.equal(run(model, case), run(model, case, encoder_hidden_states=per_clip))
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        run(model, case, encoder_hidden_states=flat[:f])  # (F, S, D) for a batch of 2 clips
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        run(model, case, encoder_hidden_states=per_clip.reshape(1, b * f, *flat.shape[1:]))  # (1, B*F, S, D)
    with pytest.raises(ValueError, match="sample"):
        run(model, case, sample=case["sample"][:, :4].float())
    long = case["sample"][:1, :, :1].float().expand(1, 13, 25, 8, 8)
    with pytest.raises(ValueError, match="position encoding holds 24"):
        run(model, case, sample=long, timestep=10, encoder_hidden_states=None)
    with pytest.raises(ValueError, match="timestep"):
        run(model, case, timestep=torch.tensor([1, 2, 3]))


def test_gradient_checkpointing_gives_the_same_gradients(fixture):
    torch.manual_seed(0)
    net = from_latentsync_config(fixture["config"])
    load_latentsync_unet_state(net, fixture["checkpoint"])
    case = fixture["cases"]["cfg_bf"]
    sample = case["sample"][:1, :, :2].float()
    audio = case["encoder_hidden_states"][-2:].float()

    def grads():
        net.zero_grad()
        net(sample, 10, audio).square().mean().backward()
        return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}

    plain = grads()
    net.enable_gradient_checkpointing()
    assert net.is_gradient_checkpointing
    ckpt = grads()
    assert plain.keys() == ckpt.keys() and len(plain) > 100
    assert all(torch.allclose(plain[k], ckpt[k], rtol=1e-4, atol=1e-7) for k in plain)


def test_full_size_stage2_config_has_latentsyncs_keys(fixture):
    ref = fixture["stage2"]
    with torch.device("meta"):
        net = from_latentsync_config(ref["config"])
    keys = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    lines = "".join(f"{k} {keys[k]}\n" for k in sorted(keys))
    assert len(keys) == ref["num_keys"]
    assert sum(p.numel() for p in net.parameters()) == ref["num_parameters"]
    assert hashlib.sha256(lines.encode()).hexdigest() == ref["keys_sha256"]


def test_config_errors_are_clear(fixture):
    with pytest.raises(ValueError, match="unknown LatentSync UNet config keys.*bogus"):
        from_latentsync_config(dict(fixture["config"], bogus=1))
    with pytest.raises(NotImplementedError, match="use_linear_projection"):
        LatentSyncUNet3D(LatentSyncUNetConfig(**dict(fixture["config"], use_linear_projection=True)))
    with pytest.raises(ValueError, match="motion_module_kwargs"):
        from_latentsync_config(dict(fixture["config"], motion_module_kwargs={"heads": 8}))
    # the whole yaml (with its model: section) is accepted too
    assert isinstance(from_latentsync_config({"model": fixture["config"], "data": {}}), LatentSyncUNet3D)
