"""Cluster pieces that need no cluster: sweep files, launcher profiles, hpc checkpoint choice, the
multirun DDP guard (the jobs themselves run in tests/test_slurm_*.py)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import hydra
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from lipsync_train.launch.cluster import (
    check_multirun_launch,
    newest_hpc_checkpoint,
    resume_checkpoint,
    retire_hpc_checkpoints,
)
from lipsync_train.launch.config_schema import ConfigError, register_configs, validate_targets
from data_prep.mouth_mask import MouthRegion
from lipsync_train.train import CONF_DIR
from tests.helpers.slurm_helpers import BIN
from tests.helpers.train_helpers import PASSED_IN, compose_train

SWEEPS = sorted(Path(CONF_DIR, "sweep").glob("*.yaml"))


def compose_with_hydra(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def sweep_points(params: dict) -> list[list[str]]:
    """hydra.sweeper.params -> the override lists of every point, as Hydra's basic sweeper expands them."""
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return BasicSweeper.split_arguments(parsed, None)[0]


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda p: p.stem)
def test_each_sweep_expands_into_points_that_compose_and_validate(sweep: Path):
    experiment = re.search(r"experiment=(\w+)", sweep.read_text()).group(1)  # from the documented command
    base = [f"experiment={experiment}", "data.shards=/data", "paths.output_dir=/out"]
    base += ["model.syncnet_ckpt=/expert.ckpt"] if experiment.startswith("unet") else []
    params = compose_with_hydra([*base, f"sweep={sweep.stem}"]).hydra.sweeper.params
    points = sweep_points(params)
    assert len(points) >= 2
    for point in points:
        cfg = compose_train([*base, *point])
        validate_targets(cfg, PASSED_IN)  # the swept keys are real arguments of the real targets
        override = OverridesParser.create().parse_override(point[0])
        actual = OmegaConf.select(cfg, override.key_or_group)
        assert (OmegaConf.to_container(actual) if OmegaConf.is_config(actual) else actual) == override.value()
        region = cfg.model.get("mask_region")
        if region is not None:
            MouthRegion(**region)  # a box inside the crop


def test_mask_shape_sweep_gives_distinct_valid_regions():
    params = compose_with_hydra(["experiment=unet_tiny", "data.shards=/d", "sweep=mask_shape"]).hydra.sweeper.params
    regions = [compose_train(["experiment=unet_tiny", "data.shards=/d", *p]).model.mask_region
               for p in sweep_points(params)]
    boxes = [MouthRegion(**r) if r is not None else MouthRegion() for r in regions]
    assert len(set(boxes)) == len(boxes) == 3


@pytest.mark.parametrize("trainer, tasks, nodes", [("cpu", 1, 1), ("ddp", 4, 1), ("ddp_multinode", 8, 2),
                                                   ("srun_cpu", 2, 1)])
def test_slurm_launcher_asks_one_task_per_device_and_usr1(trainer: str, tasks: int, nodes: int):
    cfg = compose_with_hydra(["hydra/launcher=slurm", f"trainer={trainer}", "data.shards=/d"])
    launcher = hydra.utils.instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["tasks_per_node"] == tasks and launcher.params["nodes"] == nodes
    assert launcher.params["additional_parameters"]["signal"] == "USR1@180"  # Lightning's signal, not USR2


def test_local_launcher_runs_one_process_per_point():
    cfg = compose_with_hydra(["hydra/launcher=local", "data.shards=/d"])
    launcher = hydra.utils.instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "LocalLauncher" and launcher.params["tasks_per_node"] == 1


def test_newest_hpc_checkpoint_orders_by_number(tmp_path: Path):
    assert newest_hpc_checkpoint(tmp_path) is None
    for name in ("hpc_ckpt_2.ckpt", "hpc_ckpt_10.ckpt", "hpc_ckpt_x.ckpt"):
        (tmp_path / name).write_bytes(b"")
    assert newest_hpc_checkpoint(tmp_path).name == "hpc_ckpt_10.ckpt"


def test_resume_last_takes_the_newer_of_last_and_hpc(tmp_path: Path):
    assert resume_checkpoint(None, tmp_path) is None and resume_checkpoint("/a.ckpt", tmp_path) == "/a.ckpt"
    assert resume_checkpoint("last", tmp_path) == "last"  # nothing yet: Lightning starts fresh
    (tmp_path / "checkpoints").mkdir()
    last, hpc = tmp_path / "checkpoints" / "last.ckpt", tmp_path / "hpc_ckpt_1.ckpt"
    last.write_bytes(b"")
    assert resume_checkpoint("last", tmp_path) == "last"
    hpc.write_bytes(b"")
    os.utime(last, (1000, 1000))
    assert resume_checkpoint("last", tmp_path) == str(hpc)  # saved at the signal, after last.ckpt
    os.utime(hpc, (500, 500))
    assert resume_checkpoint("last", tmp_path) == "last"


@pytest.mark.parametrize("rank_zero", [True, False])
def test_retire_hpc_checkpoints_on_rank_zero_then_barrier(tmp_path: Path, rank_zero: bool):
    (tmp_path / "hpc_ckpt_1.ckpt").write_bytes(b"x")
    barriers: list[str] = []
    trainer = SimpleNamespace(default_root_dir=str(tmp_path), is_global_zero=rank_zero, interrupted=True,
                              strategy=SimpleNamespace(barrier=barriers.append))
    assert retire_hpc_checkpoints(trainer) == [] and (tmp_path / "hpc_ckpt_1.ckpt").exists()  # fit not finished
    trainer.interrupted = False
    assert [p.name for p in retire_hpc_checkpoints(trainer)] == ["hpc_ckpt_1.ckpt"]
    assert (tmp_path / "hpc_ckpt_1.ckpt").exists() != rank_zero and barriers == ["retire_hpc_checkpoints"]


@pytest.mark.parametrize("trainer, env, ok", [
    ({"strategy": "ddp", "devices": 4}, {}, False),
    ({"strategy": "ddp", "devices": 4}, {"SLURM_NTASKS": "4"}, True),
    ({"strategy": "ddp", "devices": 4, "num_nodes": 2}, {"SLURM_NTASKS": "4"}, False),
    ({"strategy": "ddp", "devices": 4, "num_nodes": 2}, {"SLURM_NTASKS": "8"}, True),
    ({"strategy": "ddp", "devices": "0,1"}, {}, False),
    ({"strategy": "ddp", "devices": [0, 1]}, {"SLURM_NTASKS": "2"}, True),
    ({"strategy": "ddp_spawn", "devices": 2}, {}, True),
    ({"strategy": "ddp", "devices": 1}, {}, True),
    ({"strategy": "auto", "devices": "auto"}, {}, True),
    ({"devices": 2}, {}, False),  # strategy "auto" with 2 devices is ddp
])
def test_multirun_guard_refuses_ddp_ranks_lightning_would_relaunch(trainer: dict, env: dict, ok: bool):
    if ok:
        check_multirun_launch(OmegaConf.create(trainer), env)
    else:
        with pytest.raises(ConfigError, match="hydra/launcher=slurm"):
            check_multirun_launch(OmegaConf.create(trainer), env)


@pytest.mark.timeout(120)
def test_local_ddp_multirun_stops_before_any_work(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = subprocess.run([str(BIN / "lipsync-train"), "-m", "experiment=syncnet", "trainer=srun_cpu",
                           f"data.shards={tmp_path / 'none'}", "logger=csv", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                           "model.optimizer.lr=1e-3,2e-3"], capture_output=True, text=True, env=env, timeout=110,
                          check=False)
    assert proc.returncode != 0 and "re-running the" in proc.stderr and "SLURM_NTASKS=unset" in proc.stderr
    assert not (tmp_path / "sweep" / "0" / "config.yaml").exists()
