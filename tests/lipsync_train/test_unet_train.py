"""The diffusion UNet recipe end to end on fake shards: configs compose and validate, a tiny fit runs the VAE
warm-up, the noise / SyncNet / pixel losses, EMA and module selection, and its checkpoint drives inference."""

from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from lipsync_train.launch.config_schema import ConfigError, validate_targets
from data_prep.window_spec import WindowSpec
from lipsync_train.inference.pipeline import LipSyncPipeline
from lipsync_train.networks import StableSyncNet
from lipsync_train.train import train
from tests.helpers.fake_shards import write_fake_shards
from tests.helpers.train_helpers import compose_train

PASSED_IN = {"trainer": {"callbacks", "logger"}}
TINY = ["model.image_size=32", "model.net.unet.sample_size=8", "data.n_frames=4", "data.batch_size=2",
        "data.batches_per_epoch=3", "data.num_workers=0", "data.val_max_windows=2",
        "model.audio_encoder.config.max_source_positions=50", "model.vae_warmup_steps=2", "trainer.max_steps=5",
        "logger=csv", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1"]


def write_expert(path: Path, n_frames: int = 4, image_size: int = 32) -> Path:
    """A SyncNet expert checkpoint in the training core's format (random weights), without training one."""
    torch.manual_seed(0)
    net = StableSyncNet(n_frames=n_frames, image_size=image_size, embed_dim=16, video_channels=[8, 8, 16, 16],
                        audio_channels=[8, 8, 16, 16])
    window = WindowSpec(n_frames=n_frames, image_size=image_size)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    state.update(logit_scale=torch.tensor(2.3), logit_bias=torch.tensor(-5.0))
    torch.save({"state_dict": state, "sync_net": {
        "target": "lipsync_train.networks.stable_syncnet.StableSyncNet", "kwargs": net.init_kwargs,
        "distance_kind": "cosine", "window": asdict(window), "state_prefix": "net."}}, path)
    return path


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    return write_fake_shards(tmp_path_factory.mktemp("shards"), shards={"train": 2, "val": 1}, clips_per_shard=2,
                             n_frames=30, size=32)


@pytest.mark.parametrize("experiment", ["unet_tiny", "unet_256_stage1", "unet_256_stage2", "unet_512_stage1",
                                        "unet_512_stage2"])
def test_unet_experiments_compose_and_validate(tmp_path: Path, experiment: str):
    cfg = compose_train([f"experiment={experiment}", f"data.shards={tmp_path}", f"paths.output_dir={tmp_path}",
                         "logger=csv", "model.syncnet_ckpt=x.ckpt", "model.init_from=s1.ckpt"])
    validate_targets(cfg, PASSED_IN)
    assert cfg.callbacks.model_checkpoint.monitor == cfg.optimized_metric == "val/loss"
    latent_factor = 4 if experiment == "unet_tiny" else 8  # tiny VAE: 3 blocks; SD VAE: 4 blocks
    assert cfg.model.net.unet.sample_size * latent_factor == cfg.model.image_size == cfg.data.image_size
    if "stage2" in experiment:
        assert cfg.model.syncnet_weight > 0 and cfg.model.trainable_modules


def test_bad_unet_config_fails_before_any_data(tmp_path: Path):
    cfg = compose_train(["experiment=unet_tiny", f"data.shards={tmp_path}", f"paths.output_dir={tmp_path}",
                         "logger=csv", "model.syncnet_ckpt=x", "+model.net.unet_typo=1"])
    with pytest.raises(ConfigError, match="unet_typo"):
        validate_targets(cfg, PASSED_IN)


def run(shard_dir: Path, out: Path, overrides: list[str]) -> dict:
    cfg = compose_train(["experiment=unet_tiny", f"data.shards={shard_dir}", f"paths.output_dir={out}", *TINY,
                         *overrides])
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return train(cfg)


def test_tiny_fit_trains_and_its_checkpoint_drives_inference(shard_dir: Path, tmp_path: Path):
    expert = write_expert(tmp_path / "expert.ckpt")
    shards = Path(shutil.copytree(shard_dir, tmp_path / "shards"))  # faces in LatentSync's crop, as index.json says
    index = json.loads((shards / "index.json").read_text())
    (shards / "index.json").write_text(json.dumps(dict(index, align={"size": 32, "template": "latentsync"})))
    summary = run(shards, tmp_path / "run", [f"model.syncnet_ckpt={expert}", "model.syncnet_weight=0.1",
                                               "model.pixel_l1_weight=0.5", "model.noise_schedule.prediction_type=v_prediction"])
    metrics = summary["metrics"]
    assert summary["global_step"] == 5
    for name in ("val/loss", "val/noise", "val/sync", "val/pixel_l1"):
        assert np.isfinite(metrics[name]), name
    ckpt = torch.load(summary["last_checkpoint"], map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    assert ckpt["lipsync_unet"]["noise_schedule"]["prediction_type"] == "v_prediction"
    assert ckpt["config"]["model"]["syncnet_weight"] == 0.1 and "optimizer_states" in ckpt
    assert not torch.equal(state["ema_net.unet.conv_in.weight"], state["net.unet.conv_in.weight"])  # EMA lags
    pipe = LipSyncPipeline.from_checkpoint(summary["last_checkpoint"])
    assert torch.equal(pipe.net.unet.conv_in.weight, state["ema_net.unet.conv_in.weight"])
    assert torch.equal(pipe.vae.vae.encoder.conv_in.weight, state["vae.vae.encoder.conv_in.weight"])
    faces = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    tokens = pipe.audio_encoder.clip_features(np.zeros(640 * 3, np.int16))
    assert pipe.generate(faces, faces, tokens, num_steps=2).shape == (3, 3, 32, 32)
    assert pipe.face_template == "latentsync"  # lipsync-infer tracks faces into the crop the model trained on


@pytest.mark.slow
def test_stage2_trains_only_selected_modules_from_stage1(shard_dir: Path, tmp_path: Path):
    stage1 = run(shard_dir, tmp_path / "s1", ["model.syncnet_ckpt=null", "model.syncnet_weight=0",
                                             "model.pixel_l1_weight=0", "trainer.max_steps=3", "validate=false"])
    s1 = torch.load(stage1["last_checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    expert = write_expert(tmp_path / "expert.ckpt")
    stage2 = run(shard_dir, tmp_path / "s2", [f"model.syncnet_ckpt={expert}", f"model.init_from={stage1['last_checkpoint']}",
                                             "model.trainable_modules=[attn2\\.]", "model.vae_warmup_steps=0",
                                             "model.ema_decay=0", "trainer.max_steps=2", "validate=false"])
    s2 = torch.load(stage2["last_checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    changed = {k for k in s2 if k.startswith("net.") and not torch.equal(s2[k], s1["ema_net." + k[4:]])}
    assert changed and all("attn2." in k for k in changed)
    assert torch.equal(s2["vae.vae.decoder.conv_out.weight"], s1["vae.vae.decoder.conv_out.weight"])  # VAE frozen


def test_cached_latents_are_the_frozen_vaes_latents_of_the_same_frames(shard_dir: Path, tmp_path: Path):
    from hydra.utils import instantiate

    cfg = compose_train(["experiment=unet_tiny", f"data.shards={shard_dir}", f"paths.output_dir={tmp_path}", *TINY,
                         "model.syncnet_ckpt=null", "model.syncnet_weight=0", "model.vae_warmup_steps=0",
                         "model.cache_latents=true"])
    model, data = instantiate(cfg.model), instantiate(cfg.data)
    data.audio_inputs = model.audio_encoder.window_inputs()
    data.setup("fit")
    batches = list(itertools.islice(iter(data.train_dataloader()), 3))
    fresh = [model.encode_inputs({k: v for k, v in b.items() if k != "frame_start"}) for b in batches]  # uncached
    cached = [model.encode_inputs(b) for b in batches]
    assert len(model.latent_cache) > 0
    again = model.encode_inputs(batches[0])
    for f, c in zip(fresh + fresh[:1], cached + [again]):
        for name in ("latents", "masked", "reference"):
            torch.testing.assert_close(c[name], f[name], rtol=1e-5, atol=1e-5)
