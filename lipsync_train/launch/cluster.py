"""What ``lipsync-train`` needs to behave well on a SLURM cluster and in Hydra sweeps.

Preemption follows Lightning's ``SLURMEnvironment`` (``auto_requeue=True``, the default under
``srun``): on USR1 every rank saves ``<output_dir>/hpc_ckpt_<N>.ckpt`` and rank 0 runs ``scontrol
requeue``; the requeued job keeps its job id, hence its output dir (slurm/train.sbatch), and with
``ckpt_path=None`` Lightning resumes from the newest hpc checkpoint. Four gaps around that are
closed here:

- :class:`StepBoundaryRequeue`: Lightning saves the hpc checkpoint inside the signal handler, i.e.
  wherever the main thread happens to be, possibly between Adam's step-count update and its weight
  update, or while the loop's step counter lags the optimizer (the cluster test caught a checkpoint
  whose Adam state said 31 steps for 30 done). This callback takes USR1 instead, only records it,
  and at the end of the next training step (all ranks agreeing through one all-reduce) saves the
  same hpc checkpoint and requeues: the checkpoint always holds a whole number of steps.

- :func:`resume_checkpoint`: ``ckpt_path=last`` makes Lightning read ``checkpoints/last.ckpt`` only,
  so a job submitted with it would go back to a periodic checkpoint older than the one written at
  the signal. ``last`` here means the newer file of the two.
- :func:`retire_hpc_checkpoints`: after the fit, ``trainer.validate(model)`` under SLURM
  (``ckpt_path=None``) reloads the newest hpc checkpoint, i.e. the weights at the preemption, not
  the final ones. Once a fit has finished, its hpc checkpoints are stale: they are removed.
- :func:`check_multirun_launch`: in a Hydra multirun, Lightning's plain ``ddp`` starts the other
  ranks by re-running the command line, which re-launches the sweep (or the submitit job). The
  ranks must come from ``srun`` (``hydra/launcher=slurm``: tasks_per_node = trainer.devices).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import SLURMEnvironment

from lipsync_train.launch.config_schema import ConfigError

log = logging.getLogger(__name__)
HPC_PATTERN = "hpc_ckpt_*.ckpt"


def _hpc_version(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[-1])


def newest_hpc_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``hpc_ckpt_<N>.ckpt`` with the highest N that Lightning saved in ``output_dir``, if any."""
    found = [p for p in Path(output_dir).glob(HPC_PATTERN) if p.stem.rsplit("_", 1)[-1].isdigit()]
    return max(found, key=_hpc_version) if found else None


def resume_checkpoint(ckpt_path: str | None, output_dir: str | Path) -> str | None:
    """``ckpt_path`` as given, except ``"last"``: the newer of ``checkpoints/last.ckpt`` and the hpc checkpoint."""
    if ckpt_path != "last":
        return ckpt_path
    hpc = newest_hpc_checkpoint(output_dir)
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    if hpc is not None and (not last.is_file() or hpc.stat().st_mtime >= last.stat().st_mtime):
        log.info("ckpt_path=last: resuming from %s (saved at a SLURM signal, newer than %s)", hpc, last.name)
        return str(hpc)
    return ckpt_path


def retire_hpc_checkpoints(trainer: pl.Trainer) -> list[Path]:
    """Delete the hpc checkpoints of a finished fit (rank 0; every rank waits), so nothing reloads them."""
    if trainer.interrupted:  # not finished: they are still what a requeued job resumes from
        return []
    stale = sorted(Path(trainer.default_root_dir).glob(HPC_PATTERN))
    if trainer.is_global_zero:
        for path in stale:
            path.unlink(missing_ok=True)
            log.info("fit finished: removed %s (it held the state at a SLURM signal)", path)
    trainer.strategy.barrier("retire_hpc_checkpoints")
    return stale


def _world_size(trainer_cfg: Any) -> int:
    """Processes the trainer config asks for; 1 where it cannot tell ("auto", -1)."""
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, str):
        count = len(devices.strip(",").split(",")) if "," in devices else int(devices) if devices.isdigit() else 1
    elif isinstance(devices, int):
        count = max(devices, 1)
    else:  # a list of device indices
        count = len(devices)
    return count * int(trainer_cfg.get("num_nodes", 1) or 1)


def check_multirun_launch(trainer_cfg: Any, env: dict[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` for a multirun job whose DDP ranks Lightning would start by re-running argv."""
    env = os.environ if env is None else env
    strategy = trainer_cfg.get("strategy", "auto")  # "auto" with several devices is Lightning's ddp
    if not isinstance(strategy, str) or not (strategy == "auto" or strategy.startswith("ddp")) or any(
            launch in strategy for launch in ("spawn", "fork")):
        return
    world = _world_size(trainer_cfg)
    slurm_tasks = int(env.get("SLURM_NTASKS", "0") or 0)
    if world > 1 and slurm_tasks != world:
        raise ConfigError(
            f"trainer.strategy={strategy} with {world} devices in a Hydra multirun, but this job has "
            f"SLURM_NTASKS={slurm_tasks or 'unset'}: Lightning would start the other ranks by re-running the "
            f"command line, i.e. the sweep. Use hydra/launcher=slurm (tasks_per_node follows trainer.devices), "
            f"trainer=ddp_cpu (ddp_spawn), or trainer.devices=1.")


class StepBoundaryRequeue(pl.Callback):
    """Take over SLURM's USR1 from Lightning's handler and act on it between training steps.

    Active only when Lightning itself would requeue (a SLURMEnvironment with ``auto_requeue``).
    After a successful ``scontrol requeue`` every rank waits for SLURM to end the job (at most
    ``wait_s``), so nothing trains past the checkpoint and the finished-fit clean-up never runs.
    """

    def __init__(self, wait_s: float = 600.0):
        self.wait_s = wait_s
        self.requested = False
        self.active = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        env = trainer._accelerator_connector.cluster_environment
        self.active = isinstance(env, SLURMEnvironment) and env.auto_requeue
        if self.active:  # Lightning registered its handler before the loop started; replace it
            signal.signal(signal.SIGUSR1, self._record)

    def _record(self, signum: int, frame: Any) -> None:
        self.requested = True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not self.active or not trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            return
        log.info("USR1 received: saving an hpc checkpoint after step %d and requeueing", trainer.global_step)
        for logger in trainer.loggers:
            logger.finalize("finished")
        trainer.save_checkpoint(trainer._checkpoint_connector.hpc_save_path(trainer.default_root_dir))
        ok = True
        if trainer.is_global_zero:
            job = os.environ["SLURM_JOB_ID"]
            if os.environ.get("SLURM_ARRAY_JOB_ID"):
                job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
            result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
            ok = result.returncode == 0
            log.info("requeue job %s: %s", job, "done" if ok else f"failed ({result.stderr.strip()})")
        if not trainer.strategy.broadcast(ok, src=0):
            self.requested = False  # could not requeue: keep training, the checkpoint is still there
            return
        time.sleep(self.wait_s)  # SLURM ends this attempt; the requeued one resumes from the checkpoint
        raise SystemExit(f"job was requeued but not stopped within {self.wait_s:.0f} s")
