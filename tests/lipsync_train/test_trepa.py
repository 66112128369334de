"""TREPA (LatentSync's VideoMAE-v2 feature loss): parity with LatentSync's own code, the checkpoint converter's
strictness, the hub-or-path rule, and the fine-tune recipe's training step with TREPA on.

The fixtures were written by LatentSync's code (``/work/ref/make_trepa_fixtures.py``, outside this repository,
``tests/fixtures/latentsync/trepa_provenance.json``): its ``VisionTransformer`` at a small config (LatentSync's
224 px / patch 14 / tubelet 2 / 16 frames geometry, width 33, 3 heads, 2 blocks, mlp ratio 48/11), every tensor
perturbed away from its initial value, saved in the OpenGVLab layout (``videomae_v2_small.pth``), and its
``TREPALoss.__call__`` run in float32 on two batches of clips (``trepa_outputs.pt``: inputs, the pooled
features of both clips, the loss and its gradient with respect to the generated clip).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from data_prep.pretrained import PretrainedNotAvailable
from lipsync_train.losses.trepa import TREPALoss
from lipsync_train.networks.videomae_v2 import (UNUSED_KEYS, VIT_G_URL, VideoMAEv2Encoder,
                                                convert_opengvlab_state_dict, load_videomae_v2)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "latentsync"
WEIGHTS = FIXTURES / "videomae_v2_small.pth"
SMALL = {"hidden_size": 33, "num_hidden_layers": 2, "num_attention_heads": 3, "intermediate_size": 144}
TOL = 1e-4  # x the reference's std (issue 15's parity rule)


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURES / "trepa_outputs.pt", weights_only=True)


@pytest.fixture(scope="module")
def checkpoint():
    return torch.load(WEIGHTS, weights_only=True)["module"]


@pytest.fixture(scope="module")
def trepa():
    torch.set_num_threads(1)
    return TREPALoss(str(WEIGHTS), SMALL)


def raw_features(loss: TREPALoss, video: torch.Tensor) -> torch.Tensor:
    """The pooled features before the unit normalisation (what LatentSync's ``forward_features`` returns)."""
    b, t = video.shape[:2]
    frames = torch.nn.functional.interpolate(video.flatten(0, 1), size=(224, 224), mode="bicubic")
    return loss.encoder((frames / 2 + 0.5).clamp(0, 1).unflatten(0, (b, t)))


def assert_close(ours: torch.Tensor, ref: torch.Tensor, name: str) -> None:
    diff = (ours - ref).abs().max().item()
    assert diff <= TOL * ref.std().item(), f"{name}: max |diff| {diff:.3g} > {TOL} x std {ref.std().item():.3g}"


def test_fixture_tensors_are_all_perturbed_and_the_config_is_latentsyncs_geometry(reference, checkpoint):
    """LatentSync initialises biases, q/v biases and the head at 0 and LayerNorm weights at 1: no fixture tensor may
    still be constant, or a converter that skips it would go unnoticed."""
    constant = [k for k, v in checkpoint.items() if v.numel() > 1 and torch.all(v == v.flatten()[0])]
    assert not constant
    c = reference["config"]
    assert (c["img_size"], c["patch_size"], c["tubelet_size"], c["all_frames"]) == (224, 14, 2, 16)
    assert (c["embed_dim"], c["num_heads"], c["depth"], c["layer_norm_eps"]) == (33, 3, 2, 1e-6)
    assert checkpoint["blocks.0.mlp.fc1.weight"].shape[0] == SMALL["intermediate_size"] == int(33 * 48 / 11)


def test_converted_encoder_and_loss_reproduce_latentsync(trepa, reference):
    """Pooled features of both clips, the loss and d loss / d generated clip, float32."""
    fake = reference["fake"].float().requires_grad_(True)  # (B, T, 3, H, W) in about [-2, 2]
    real = reference["real"].float()
    with torch.no_grad():
        assert_close(raw_features(trepa, fake), reference["features_fake"], "features of the generated clips")
        assert_close(raw_features(trepa, real), reference["features_real"], "features of the target clips")
    loss = trepa(fake, real)
    loss.backward()
    assert abs(loss.item() - reference["loss"].item()) <= TOL * reference["loss"].item(), (loss, reference["loss"])
    assert_close(fake.grad, reference["grad_fake"], "gradient")
    assert reference["loss"].item() > 1e-3  # the clips differ enough for the loss to mean something


def test_loading_is_strict_and_copies_every_checkpoint_tensor(trepa, checkpoint):
    ours = trepa.encoder.state_dict()
    query = {k: v for k, v in ours.items() if ".attention.attention." in k}
    for i in range(SMALL["num_hidden_layers"]):
        attn = f"videomae.encoder.layer.{i}.attention.attention."
        qkv = torch.cat([ours[f"{attn}{n}.weight"] for n in ("query", "key", "value")])
        assert torch.equal(qkv, checkpoint[f"blocks.{i}.attn.qkv.weight"])
        assert torch.equal(ours[f"{attn}query.bias"], checkpoint[f"blocks.{i}.attn.q_bias"])
        assert torch.equal(ours[f"{attn}value.bias"], checkpoint[f"blocks.{i}.attn.v_bias"])
        assert f"{attn}key.bias" not in query  # OpenGVLab's zero key bias is not a parameter
        assert torch.equal(ours[f"videomae.encoder.layer.{i}.output.dense.weight"],
                           checkpoint[f"blocks.{i}.mlp.fc2.weight"])
    assert torch.equal(ours["fc_norm.bias"], checkpoint["fc_norm.bias"])
    n_qkv = 3 * SMALL["num_hidden_layers"]  # each fused qkv becomes three tensors
    assert len(ours) == len(checkpoint) - len(UNUSED_KEYS) + n_qkv - SMALL["num_hidden_layers"]
    assert not any(p.requires_grad for p in trepa.parameters()) and not trepa.training


def test_converter_takes_the_full_size_vit_g_layout_latentsync_loads():
    """(key, shape) of LatentSync's vit_giant_patch14_224 as load_videomae_model builds it (written by its code on
    the meta device): every tensor lands in our default ViT-g/14 with its shape; 1.01 B parameters less the head."""
    import json

    layout = json.loads((FIXTURES / "videomae_v2_vit_g_keys.json").read_text())
    state = {k: torch.empty(shape, device="meta") for k, shape in layout}
    with torch.device("meta"):
        encoder = VideoMAEv2Encoder()
    ours = encoder.state_dict()
    converted = convert_opengvlab_state_dict(state, ours)
    assert set(converted) == set(ours) and len(state) == 526
    n = sum(v.numel() for k, v in state.items() if k not in UNUSED_KEYS)
    assert n == sum(v.numel() for v in ours.values()) == 1_011_855_918 - 1408 * 174 - 174
    assert (encoder.image_size, encoder.num_frames) == (224, 16)


@pytest.mark.parametrize("change", ["drop", "extra", "shape"])
def test_converter_refuses_a_tensor_left_over_on_either_side(checkpoint, change):
    ours = VideoMAEv2Encoder(SMALL).state_dict()
    state = dict(checkpoint)
    if change == "drop":
        for key in [k for k in state if k not in UNUSED_KEYS]:  # every single tensor is needed
            with pytest.raises(ValueError, match="missing"):
                convert_opengvlab_state_dict({k: v for k, v in state.items() if k != key}, ours)
        return
    if change == "extra":
        state["blocks.0.gamma_1"] = torch.ones(33)  # layer scale: a VideoMAE-v2 variant this encoder does not have
        match = "blocks.0.gamma_1"
    else:
        state["blocks.1.mlp.fc1.weight"] = state["blocks.1.mlp.fc1.weight"][:100]
        match = "shapes differ"
    with pytest.raises(ValueError, match=match):
        convert_opengvlab_state_dict(state, ours)


def test_parity_fails_when_a_tensor_is_left_at_its_initial_value(reference, checkpoint, tmp_path):
    """The parity test would see a tensor the converter forgot: q_bias of block 0 back at LatentSync's zeros."""
    state = dict(checkpoint)
    state["blocks.0.attn.q_bias"] = torch.zeros_like(state["blocks.0.attn.q_bias"])
    torch.save({"model": state}, tmp_path / "v.pth")  # the other OpenGVLab wrapper key
    loss = TREPALoss(str(tmp_path / "v.pth"), SMALL)
    with torch.no_grad():
        ours = raw_features(loss, reference["fake"].float())
    with pytest.raises(AssertionError, match="max \\|diff\\|"):
        assert_close(ours, reference["features_fake"], "features")


def test_loss_is_zero_on_equal_clips_flows_only_into_the_generated_clip_and_needs_16_frames(trepa, reference):
    fake = reference["fake"].float()[:1].requires_grad_(True)
    assert trepa(fake, fake.detach()).item() == pytest.approx(0.0, abs=1e-12)
    real = reference["real"].float()[:1].requires_grad_(True)
    trepa(fake, real).backward()
    assert fake.grad.abs().sum() > 0 and real.grad is None
    trepa.train()
    assert not trepa.training
    with pytest.raises(ValueError, match="16, 3, 224, 224"):
        trepa(fake[:, :8], fake[:, :8])


def test_the_recipes_bf16_encoder_with_gradient_checkpointing_stays_close_to_latentsyncs_float32(reference):
    """The recipe keeps the frozen encoder in bf16 (LatentSync: fp16) and checkpoints its blocks."""
    loss = TREPALoss(str(WEIGHTS), SMALL, dtype="bfloat16", gradient_checkpointing=True)
    fake = reference["fake"].float().requires_grad_(True)
    value = loss(fake, reference["real"].float())
    value.backward()
    assert value.item() == pytest.approx(reference["loss"].item(), rel=0.01)
    assert (fake.grad - reference["grad_fake"]).abs().max() < 0.1 * reference["grad_fake"].std()


def test_weights_by_folder_and_offline_hub_or_url_give_the_clear_error(checkpoint, monkeypatch, tmp_path):
    (tmp_path / "ckpt" / "auxiliary").mkdir(parents=True)
    torch.save(checkpoint, tmp_path / "ckpt" / "auxiliary" / "vit_g_hybrid_pt_1200e_ssv2_ft.pth")  # no wrapper
    assert isinstance(load_videomae_v2(tmp_path / "ckpt", config=SMALL), VideoMAEv2Encoder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("LIPSYNC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(PretrainedNotAvailable, match="auxiliary/vit_g_hybrid_pt_1200e_ssv2_ft.pth"):
        TREPALoss("ByteDance/LatentSync-1.5", SMALL)
    with pytest.raises(PretrainedNotAvailable, match="model.trepa_weights=FILE"):
        TREPALoss(VIT_G_URL, SMALL)


# --- the fine-tune recipe with TREPA on ------------------------------------------------------------------------
def test_recipe_has_latentsyncs_trepa_weight_and_is_off_without_weights(tmp_path):
    from tests.helpers.train_helpers import compose_train

    cfg = compose_train(["experiment=latentsync_ar_finetune", f"data.shards={tmp_path}", "model.init_from=u.ckpt",
                         "model.syncnet_ckpt=s.ckpt", f"paths.output_dir={tmp_path}", "logger=csv"])
    assert cfg.model.trepa_weight == 10.0 and cfg.model.trepa_weights is None  # off until weights are given
    assert cfg.model.trepa.encoder is None and cfg.model.trepa.gradient_checkpointing
    assert cfg.data.n_frames == 16  # the VideoMAE-v2 clip length


@pytest.mark.slow
def test_recipe_step_runs_with_trepa_logs_it_and_resumes_without_storing_the_encoder(tmp_path):
    """~15 s (2 min on a loaded 2-core machine): two steps of experiment=latentsync_ar_finetune (tiny UNet and
    expert) with the small VideoMAE-v2 fixture as trepa_weights; train/trepa is logged and weighted 10 in
    train/loss, checkpoints hold no ``trepa.*`` tensor, and a resume from one works."""
    from tests.helpers.fake_shards import write_fake_shards
    from tests.helpers.latentsync_syncnet_helpers import tiny_net, write_syncnet_ckpt
    from tests.helpers.train_helpers import run
    from tests.helpers.unet_helpers import write_latentsync_checkpoint

    torch.set_num_threads(1)
    shards = write_fake_shards(tmp_path / "shards", {"train": 1, "val": 1}, clips_per_shard=2, n_frames=40, size=64)
    unet = write_latentsync_checkpoint(tmp_path / "unet.ckpt", image_size=64)
    expert = write_syncnet_ckpt(tmp_path / "syncnet.ckpt", tiny_net(seed=0), 64)
    encoder = "{" + ",".join(f"{k}:{v}" for k, v in SMALL.items()) + "}"
    recipe = ["experiment=latentsync_ar_finetune", f"model.init_from={unet}", f"model.syncnet_ckpt={expert}",
              "model.image_size=64", "model.lpips.vgg_weights=null", "model.lpips.lin_weights=null",
              "trainer=cpu", "trainer.precision=32-true", "trainer.enable_model_summary=false", "data.batch_size=1",
              "data.batches_per_epoch=1", "data.val_max_windows=1", "data.shuffle_buffer=4",
              "callbacks.last_checkpoint.every_n_train_steps=1",
              f"model.trepa_weights={WEIGHTS}", f"model.trepa.encoder={encoder}", "model.trepa.dtype=float32"]
    out = tmp_path / "run"
    for steps, resume in ((1, []), (2, ["ckpt_path=last"])):  # the CSV logger starts afresh on resume
        run(shards, out, [*recipe, f"trainer.max_steps={steps}", *resume])
        rows = [r for r in csv.DictReader((out / "csv" / "metrics.csv").read_text().splitlines()) if r.get("train/trepa")]
        assert len(rows) == 1 and 0 < float(rows[0]["train/trepa"]) < 4, rows  # unit vectors: at most 4 / D
        assert int(rows[0]["step"]) == steps - 1  # logged before the step counter moves
        v = {k: float(rows[0][f"train/{k}"]) for k in ("noise", "sync", "lpips", "trepa", "loss")}
        assert v["loss"] == pytest.approx(v["noise"] + 0.05 * v["sync"] + 0.1 * v["lpips"] + 10 * v["trepa"], rel=1e-5)
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2 and not any(k.startswith("trepa.") for k in last["state_dict"])
    assert last["hyper_parameters"]["trepa_weight"] == 10.0
