"""Submit and watch jobs on the local SLURM cluster (slurm/local_cluster.sh) from the slurm tests.

The machine is small and may be busy, so nothing here sleeps a fixed time: :func:`wait_for` polls
``squeue`` / ``scontrol show job`` (``sacct`` needs an accounting database the local cluster does
not have) until a condition holds or a generous deadline passes, and every failure message carries
the job's output files, so a failed cluster test says what the job printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SLURM_DIR = ROOT / "slurm"
LOCAL_CLUSTER = SLURM_DIR / "local_cluster.sh"
BIN = Path(sys.executable).parent
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE"}
JOB_ENV = {"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1"}


def tiny_syncnet_job(shards: Path, max_steps: int, batches_per_epoch: int, logger: str) -> list[str]:
    """Overrides of a tiny 2-rank CPU SyncNet fit under srun: a few seconds a step, last.ckpt every 2 steps."""
    from tests.helpers.train_helpers import TINY_NET

    return ["experiment=syncnet", "trainer=srun_cpu", f"data.shards={shards}", f"logger={logger}", *TINY_NET,
            "data.num_workers=0", "data.batch_size=4", f"data.batches_per_epoch={batches_per_epoch}",
            "data.val_max_pairs=4", "data.max_offset=2", f"trainer.max_steps={max_steps}",
            "callbacks.last_checkpoint.every_n_train_steps=2", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false"]


def cluster_responds() -> bool:
    """True when ``sinfo`` answers and shows a node that can take jobs."""
    if shutil.which("sinfo") is None:
        return False
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and any(s.strip("*~#") in {"idle", "mixed", "allocated", "completing"}
                                        for s in proc.stdout.split())


def checkpoint_step(path: Path) -> int:
    """global_step of a Lightning checkpoint, 0 while it is missing or half written."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)["global_step"]
    except Exception:  # noqa: BLE001 - missing, or read while Lightning is still writing it: poll again
        return 0


def job_env(**extra: str) -> dict[str, str]:
    """The test process's environment plus one thread per process, offline wandb and ``extra``."""
    return {**os.environ, **JOB_ENV, **extra}


def sbatch(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """``sbatch --parsable ARGS`` -> the job id."""
    proc = subprocess.run(["sbatch", "--parsable", *map(str, args)], capture_output=True, text=True,
                          env=env or job_env(), cwd=cwd, timeout=60, check=False)
    assert proc.returncode == 0, f"sbatch {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip().split(";")[0]


def job_records(job_id: str) -> list[dict[str, str]]:
    """``scontrol show job -o JOB``: one dict per job (or array task); [] once SLURM has forgotten it."""
    proc = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        return []
    records = []
    for line in proc.stdout.splitlines():
        record: dict[str, str] = {}
        for token in line.split():
            key, sep, value = token.partition("=")
            if sep:
                record[key] = value
        if record:
            records.append(record)
    return records


def describe(files: list[Path], tail: int = 6000) -> str:
    """The last ``tail`` characters of each file, for failure messages."""
    parts = []
    for path in files:
        text = path.read_text(errors="replace")[-tail:] if path.is_file() else "(missing)"
        parts.append(f"----- {path} -----\n{text}")
    return "\n".join(parts)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, files: list[Path] | Callable[[], list[Path]],
             interval: float = 1.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with the job files after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            shown = files() if callable(files) else files
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{describe(shown)}")
        time.sleep(interval)


def wait_until_finished(job_id: str, timeout: float, files: list[Path] | Callable[[], list[Path]]
                        ) -> list[dict[str, str]]:
    """Wait until the job (every array task) is in a final state -> its records."""
    def finished():
        records = job_records(job_id)
        return records if records and all(r.get("JobState") in FINAL_STATES for r in records) else None
    return wait_for(finished, timeout, f"job {job_id} to finish", files)


def assert_completed(records: list[dict[str, str]], files: list[Path] | Callable[[], list[Path]]) -> None:
    bad = [f"{r['JobId']}: {r['JobState']} exit {r.get('ExitCode')}" for r in records if r["JobState"] != "COMPLETED"]
    if bad:
        shown = files() if callable(files) else files
        raise AssertionError("jobs did not complete: " + "; ".join(bad) + "\n" + describe(shown))
