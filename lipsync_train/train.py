"""Train a model from a Hydra config: the ``lipsync-train`` console script.

    # the SyncNet expert on CPU (data.shards: a lipsync-prep output directory)
    lipsync-train experiment=syncnet data.shards=DIR paths.output_dir=OUT trainer.max_steps=1500
    # resume after a kill (same output dir)
    lipsync-train experiment=syncnet data.shards=DIR paths.output_dir=OUT ckpt_path=last
    # the syncnet_v2 evaluator architecture on one GPU / 4 GPUs / 2 CPU processes
    lipsync-train experiment=syncnet_v2 data.shards=DIR trainer=gpu
    lipsync-train experiment=syncnet_v2 data.shards=DIR trainer=ddp trainer.devices=4
    lipsync-train experiment=syncnet data.shards=DIR trainer=ddp_cpu
    # several nodes on SLURM (srun, one task per GPU; preemption requeues and resumes): README, "Running on a SLURM cluster"
    sbatch --nodes=2 --ntasks-per-node=8 --gpus-per-node=8 slurm/train.sbatch experiment=E data.shards=DIR trainer=ddp

A thin orchestrator: validate the config (before any data is read), write the
resolved config and git revision next to the outputs, seed, instantiate
datamodule -> model -> callbacks -> loggers -> trainer, fit, validate once more,
and write ``metrics.json`` (final validation metrics + checkpoint paths). It
returns the ``optimized_metric`` so a Hydra sweep can read it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from data_prep import CONF_DIR
from lipsync_train.launch.cluster import check_multirun_launch, resume_checkpoint, retire_hpc_checkpoints
from lipsync_train.launch.config_schema import register_configs, validate_targets

log = logging.getLogger(__name__)


def git_revision(cwd: Path | None = None) -> str:
    """The project's commit (``+dirty`` with uncommitted changes), or ``unknown`` outside a git checkout."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev.strip() + ("+dirty" if dirty.strip() else "")


def instantiate_group(cfg: DictConfig | None, **kwargs: Any) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group such as ``callbacks`` or ``logger``."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(node, **kwargs) for node in cfg.values() if node and "_target_" in node]


def _persist_wandb_id(cfg: DictConfig) -> None:
    """Give wandb loggers without an id one derived from the output dir: a resumed run continues the same run."""
    run_id = hashlib.sha1(str(Path(cfg.paths.output_dir).resolve()).encode()).hexdigest()[:12]
    for node in (cfg.get("logger") or {}).values():
        if node and str(node.get("_target_", "")).endswith("WandbLogger") and node.get("id") is None:
            with open_dict(node):
                node.id = run_id
                node.resume = "allow"


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job from a composed config -> {"metrics", "best_checkpoint", "last_checkpoint", ...}."""
    validate_targets(cfg, passed_in={"trainer": {"callbacks", "logger"}})  # before any data or output
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _persist_wandb_id(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    revision = git_revision()
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(resolved)))
    (output_dir / "git_revision.txt").write_text(revision + "\n")

    pl.seed_everything(cfg.seed, workers=True)
    log.info("datamodule <%s>", cfg.data._target_)
    datamodule = hydra.utils.instantiate(cfg.data)
    net = cfg.model.get("net")
    log.info("model <%s> net <%s>", cfg.model._target_, net._target_ if net else f"from {cfg.model.get('init_from')}")
    model = hydra.utils.instantiate(cfg.model)
    model.run_config, model.git_revision = resolved, revision
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for lg in loggers:
        lg.log_hyperparams({"config": resolved, "git_revision": revision})

    if cfg.train:
        # ckpt_path=None under SLURM: Lightning resumes from a requeued job's hpc_ckpt (lipsync_train/launch/cluster.py)
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_checkpoint(cfg.get("ckpt_path"), output_dir))
        retire_hpc_checkpoints(trainer)  # else validate() below would reload the weights saved at the signal
    metrics: dict[str, float] = {}
    if cfg.validate:
        results = trainer.validate(model, datamodule=datamodule, verbose=False)
        metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    # under ddp_spawn the main process's callbacks never saw the paths: fall back to the files
    last_ckpts = [cb.last_model_path or str(Path(cb.dirpath) / "last.ckpt") for cb in trainer.checkpoint_callbacks
                  if cb.last_model_path or (cb.dirpath and (Path(cb.dirpath) / "last.ckpt").is_file())]
    summary = {"metrics": metrics, "optimized_metric": cfg.optimized_metric,
               "best_checkpoint": best or None, "last_checkpoint": last_ckpts[0] if last_ckpts else None,
               "global_step": trainer.global_step, "git_revision": revision, "output_dir": str(output_dir)}
    if trainer.is_global_zero:
        (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
        print(f"checkpoint: {summary['best_checkpoint'] or summary['last_checkpoint']}")
        print("final validation: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
        print(f"metrics: {output_dir / 'metrics.json'}")
    return summary


def _finish_wandb() -> None:
    """Close a wandb run left open by a failure, so one failed job does not break a multirun."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


# "../conf" as an absolute path: run as a console script, Hydra would read a relative
# config_path as a Python package ("pkg://conf"), which the repository's conf/ is not.


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    if HydraConfig.get().mode == RunMode.MULTIRUN:  # one output dir per sweep job
        check_multirun_launch(cfg.trainer)
        with open_dict(cfg):
            cfg.paths.output_dir = HydraConfig.get().runtime.output_dir
    try:
        summary = train(cfg)
    finally:
        _finish_wandb()
    return summary["metrics"].get(cfg.optimized_metric)


def main() -> None:
    """Console-script entry point: register the config schema, then hand over to Hydra."""
    register_configs()
    hydra_main()


if __name__ == "__main__":
    main()
