"""The generated dataset and the two SyncNets trained on it, as a user makes them, shared by the slow tests.

``lipsync-make-data`` -> ``lipsync-prep`` -> the expert (``experiment=syncnet``, 1000 steps: the UNet's SyncNet
loss in the sync-margin test) and the judge (``experiment=sync_judge``: another architecture and seed). The
sync-margin acceptance test trains its UNet on these shards against the expert and scores it with the judge;
the web-video test runs the dataset workflow's sync filter with the judge. Trained once per test session
(``sync_nets`` fixture in ``tests/conftest.py``), about 12 minutes on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(module: str, *args: str, cwd: Path) -> None:
    """``python -m module args`` in ``cwd``; fails the test with the tail of its output."""
    env = {**os.environ, "WANDB_MODE": "offline"}
    run = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, cwd=cwd)
    assert run.returncode == 0, f"{module} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"


def train_sync_nets(root: Path) -> dict[str, Path]:
    """-> {data, prep, expert, judge} under ``root``: the generated videos, their shards and two checkpoints."""
    data, prep, expert_dir, judge_dir = (root / n for n in ("data", "prep", "syncnet", "judge"))
    cli("data_prep.synth.cli", f"out_dir={data}", "n_broken=0", cwd=root)
    cli("data_prep.cli", f"manifest={data / 'manifest.jsonl'}", f"out_dir={prep}", "shards.max_samples=8",
        cwd=root)
    # the expert needs ~1000 steps: at 500 (val/acc 0.7) it gives even the ground truth only ~0.25 confidence
    cli("lipsync_train.train", "experiment=syncnet", f"data.shards={prep}", f"paths.output_dir={expert_dir}",
        "trainer.max_steps=1000", "logger=csv", cwd=root)
    cli("lipsync_train.train", "experiment=sync_judge", f"data.shards={prep}", f"paths.output_dir={judge_dir}",
        "logger=csv", cwd=root)
    return {"data": data, "prep": prep, "expert": expert_dir / "checkpoints" / "last.ckpt",
            "judge": judge_dir / "checkpoints" / "last.ckpt"}
