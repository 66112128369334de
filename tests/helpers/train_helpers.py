"""Shared setup of the training tests: the composed train config, a tiny SyncNet, one fit from Python, and the
comparison of two checkpoints' training state (exact-resume tests)."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from lipsync_train.launch.config_schema import register_configs
from lipsync_train.train import CONF_DIR, train

PASSED_IN = {"trainer": {"callbacks", "logger"}}


def compose_train(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


TINY_NET = ["model.net.video_channels=[8,16,16,32]", "model.net.audio_channels=[8,16,16,32]", "model.net.embed_dim=32"]


def run(shard_dir: Path, out: Path, overrides: list[str]) -> dict:
    cfg = compose_train([f"data.shards={shard_dir}", f"paths.output_dir={out}", "logger=csv", "data.num_workers=0",
                         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
                         "trainer.log_every_n_steps=1", *overrides])
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return train(cfg)


def assert_same_training_state(resumed: dict, straight: dict) -> None:
    """Model weights and optimizer state (Adam step, moments) of two checkpoints are equal, tensor for tensor."""
    assert resumed["global_step"] == straight["global_step"]
    assert set(resumed["state_dict"]) == set(straight["state_dict"])
    differ = [k for k, v in resumed["state_dict"].items() if not torch.equal(v, straight["state_dict"][k])]
    assert not differ, f"weights differ from the uninterrupted run: {differ[:5]}"
    ours, theirs = resumed["optimizer_states"][0]["state"], straight["optimizer_states"][0]["state"]
    assert ours and set(ours) == set(theirs)
    for i, a in ours.items():
        b = theirs[i]
        assert set(a) == set(b), f"optimizer state {i}: {sorted(a)} vs {sorted(b)}"
        for name in a:
            assert torch.equal(torch.as_tensor(a[name]), torch.as_tensor(b[name])), f"optimizer state {i}.{name}"
