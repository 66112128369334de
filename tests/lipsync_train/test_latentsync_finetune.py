"""experiment=latentsync_ar_finetune at tiny scale on CPU: LatentSync's UNet (narrow blocks, random weights, in the
converter's checkpoint layout) fine-tuned on fake shards with its StableSyncNet loss, LPIPS and mixed noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync_train.launch.config_schema import validate_targets
from lipsync_train.train import train
from tests.helpers.fake_shards import write_fake_shards
from tests.helpers.latentsync_syncnet_helpers import tiny_net, write_syncnet_ckpt
from tests.helpers.train_helpers import PASSED_IN, compose_train
from tests.helpers.unet_helpers import write_latentsync_checkpoint


def recipe(shards: Path, out: Path, init_from: str, expert: Path, steps: int, extra: list[str] = ()) -> list[str]:
    return ["experiment=latentsync_ar_finetune", f"data.shards={shards}", f"paths.output_dir={out}",
            f"model.init_from={init_from}", f"model.syncnet_ckpt={expert}", "model.image_size=64",
            "model.lpips.vgg_weights=null", "model.lpips.lin_weights=null",  # random LPIPS: no download in tests
            "model.optimizer.lr=1e-3", "trainer=cpu", "trainer.precision=32-true", f"trainer.max_steps={steps}",
            "data.batch_size=1", "data.num_workers=0", "data.batches_per_epoch=100", "data.val_max_windows=1",
            "data.shuffle_buffer=4", "logger=csv", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "trainer.log_every_n_steps=1", *extra]


def fit(overrides: list[str]) -> dict:
    from omegaconf import open_dict

    cfg = compose_train(overrides)
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return train(cfg)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("latentsync_ft")
    return {"shards": write_fake_shards(root / "shards", {"train": 1, "val": 1}, clips_per_shard=2, n_frames=40,
                                        size=64),
            "unet": write_latentsync_checkpoint(root / "unet.ckpt", image_size=64),
            "expert": write_syncnet_ckpt(root / "syncnet.ckpt", tiny_net(seed=0), 64)}


def test_recipe_composes_and_validates(tmp_path):
    cfg = compose_train(["experiment=latentsync_ar_finetune", f"data.shards={tmp_path}", "model.init_from=u.ckpt",
                         "model.syncnet_ckpt=s.ckpt", f"paths.output_dir={tmp_path}", "logger=csv"])
    validate_targets(cfg, PASSED_IN)
    m = cfg.model
    assert m.net is None and m.vae is None and m.audio_encoder is None  # rebuilt from init_from
    assert (m.syncnet_weight, m.lpips_weight, m.mixed_noise_alpha, m.audio_dropout) == (0.05, 0.1, 1.0, 0.0)
    assert list(m.trainable_modules) == ["motion_modules\\.", "attentions\\."] and m.optimizer.lr == 1e-5
    assert cfg.data.audio_kind == "latentsync_mel" and cfg.data.n_frames == 16 and cfg.data.audio_inputs is None
    assert cfg.trainer.precision == "bf16-mixed" and cfg.model.gradient_checkpointing


def noise_curve(out: Path) -> np.ndarray:
    import csv

    rows = [r for r in csv.DictReader(open(out / "csv" / "metrics.csv")) if r.get("train/noise")]
    for name in ("train/sync", "train/lpips"):
        assert rows and all(np.isfinite(float(r[name])) for r in rows), name
    return np.array([float(r["train/noise"]) for r in rows])


@pytest.mark.slow
def test_recipe_trains_only_motion_modules_and_attentions_and_resumes_exactly(parts, tmp_path):
    """~1 min: 4 steps straight vs 2 steps + resume to 4 (epochs of 2 batches: the shard stream resumes at an
    epoch boundary); frozen tensors stay at init_from's values."""
    torch.set_num_threads(1)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    epochs = ["data.batches_per_epoch=2", "callbacks.last_checkpoint.every_n_train_steps=2"]
    summary = fit(recipe(parts["shards"], straight, parts["unet"], parts["expert"], 4, epochs))
    fit(recipe(parts["shards"], resumed, parts["unet"], parts["expert"], 2, epochs))
    fit(recipe(parts["shards"], resumed, parts["unet"], parts["expert"], 4, [*epochs, "ckpt_path=last"]))
    a = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a["state_dict"].keys() == b.keys()
    assert all(torch.equal(a["state_dict"][k], b[k]) for k in b), [k for k in b if not torch.equal(a["state_dict"][k], b[k])][:5]
    assert a["lipsync_unet"]["net"]["target"].endswith("LatentSyncDenoiser") and summary["last_checkpoint"]
    init = torch.load(parts["unet"], weights_only=True)["state_dict"]
    trained = {k: v for k, v in a["state_dict"].items() if k.startswith("net.")}
    moved = {k for k, v in trained.items() if not torch.equal(v, init[k])}
    assert moved and all("motion_modules." in k or "attentions." in k for k in moved)
    assert any("motion_modules." in k for k in moved) and any(".attentions." in k for k in moved)
    assert torch.equal(trained["net.unet.conv_in.weight"], init["net.unet.conv_in.weight"])


@pytest.mark.slow
def test_recipe_loss_falls(parts, tmp_path):
    """~1.5 min: 40 steps of the recipe with the whole UNet trainable (a random UNet's frozen conv_in / conv_out
    leave its attentions too little leverage to show a drop in a few dozen steps; pretrained weights do not)."""
    torch.set_num_threads(1)
    fit(recipe(parts["shards"], tmp_path / "run", parts["unet"], parts["expert"], 40,
               ["model.trainable_modules=null", "model.optimizer.lr=1e-3"]))
    noise = noise_curve(tmp_path / "run")
    assert len(noise) == 40 and np.isfinite(noise).all()
    assert noise[-10:].mean() < 0.8 * noise[:10].mean(), noise
