"""Shared setup of the training tests: the composed train config, a tiny SyncNet, one fit from Python."""

from __future__ import annotations

from pathlib import Path

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
