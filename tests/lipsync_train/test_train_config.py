"""Config composition and validation of the training app (no data is read, no training)."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import open_dict

from lipsync_train.launch.config_schema import ConfigError, validate_targets
from data_prep.shard_index import read_split
from lipsync_train.train import train
from tests.helpers.train_helpers import PASSED_IN, compose_train

@pytest.mark.parametrize("experiment", ["syncnet", "syncnet_v2"])
def test_experiments_compose_validate_and_instantiate(tmp_path: Path, experiment: str):
    cfg = compose_train([f"experiment={experiment}", f"data.shards={tmp_path}", f"paths.output_dir={tmp_path}",
                         "logger=csv"])
    validate_targets(cfg, PASSED_IN)
    assert cfg.callbacks.model_checkpoint.monitor == cfg.optimized_metric
    assert cfg.data.n_frames == cfg.model.net.n_frames
    dm = hydra.utils.instantiate(cfg.data)  # constructing reads nothing; setup() does
    model = hydra.utils.instantiate(cfg.model)
    assert type(model.net).__name__ == ("StableSyncNet" if experiment == "syncnet" else "SyncNetV2")
    assert dm.spec.audio_kind == ("mel" if experiment == "syncnet" else "mfcc")
    for group in ("callbacks", "logger"):
        for node in cfg[group].values():
            hydra.utils.instantiate(node)
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert trainer.max_steps == cfg.trainer.max_steps


def test_trainer_groups_compose(tmp_path: Path):
    for group in ("cpu", "gpu", "ddp", "ddp_multinode", "ddp_cpu"):
        cfg = compose_train([f"trainer={group}", f"data.shards={tmp_path}", f"paths.output_dir={tmp_path}"])
        validate_targets(cfg, PASSED_IN)
    assert cfg.trainer.strategy == "ddp_spawn"


def test_typo_in_a_nested_key_names_it_and_suggests_the_right_one(tmp_path: Path):
    cfg = compose_train(["experiment=syncnet", f"data.shards={tmp_path}", "+model.net.embed_dimm=64"])
    with pytest.raises(ConfigError, match=r"model\.net\.embed_dimm.*did you mean 'embed_dim'"):
        validate_targets(cfg, PASSED_IN)


def test_wrong_type_names_the_key(tmp_path: Path):
    cfg = compose_train(["experiment=syncnet", f"data.shards={tmp_path}", "data.batch_size=lots"])
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected <class 'int'>, got str 'lots'"):
        validate_targets(cfg, PASSED_IN)
    cfg = compose_train(["experiment=syncnet", f"data.shards={tmp_path}", "trainer.precision=31"])
    with pytest.raises(ConfigError, match=r"trainer\.precision"):
        validate_targets(cfg, PASSED_IN)


def test_unknown_top_level_key_fails_at_composition(tmp_path: Path):
    with pytest.raises(ConfigCompositionException, match="seeed"):
        compose_train(["experiment=syncnet", f"data.shards={tmp_path}", "seeed=3"])
    cfg = compose_train(["experiment=syncnet", f"data.shards={tmp_path}", "+seeed=3"])  # "+" forces it in...
    with pytest.raises(ConfigError, match="seeed: not a top-level key.*did you mean 'seed'"):
        validate_targets(cfg, PASSED_IN)  # ...and validation still stops it
    with pytest.raises(ConfigCompositionException, match="seed"):
        compose_train(["experiment=syncnet", f"data.shards={tmp_path}", "seed=notanumber"])


def test_missing_shard_dir_is_reported_by_name():
    cfg = compose_train(["experiment=syncnet"])
    with pytest.raises(ConfigError, match=r"data\.shards"):
        validate_targets(cfg, PASSED_IN)


def test_typo_stops_the_run_before_data_is_read(tmp_path: Path):
    cfg = compose_train(["experiment=syncnet", f"data.shards={tmp_path / 'nowhere'}",
                         f"paths.output_dir={tmp_path / 'out'}", "logger=csv", "+trainer.max_stepz=3"])
    with open_dict(cfg):
        cfg.pop("hydra", None)
    with pytest.raises(ConfigError, match=r"trainer\.max_stepz.*did you mean 'max_steps'"):
        train(cfg)
    assert not (tmp_path / "out").exists()


def test_bad_shard_directory_errors_name_the_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="index.json"):
        read_split(tmp_path, "train")
    (tmp_path / "index.json").write_text('{"splits": {"train": {"shards": [{"name": "train-p000-000000.tar"}]}}}')
    with pytest.raises(KeyError, match="splits.val"):
        read_split(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match="train-p000-000000.tar"):
        read_split(tmp_path, "train")
