"""A 2-point Hydra sweep through the submitit SLURM launcher (conf/hydra/launcher/slurm.yaml) on the
local cluster, each point a 2-task DDP fit (tasks_per_node follows trainer.devices). Point 0 is
preempted with USR1: Lightning, not submitit, saves and requeues it, and submitit re-runs it in the
same directory, where it resumes. Then ``lipsync-sweep-gather`` turns the points into one table.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.fake_shards import write_fake_shards
from tests.helpers.slurm_helpers import (
    BIN,
    checkpoint_step,
    describe,
    job_env,
    job_records,
    tiny_syncnet_job,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


MAX_STEPS = 24


@pytest.mark.timeout(900)
def test_two_point_sweep_through_submitit_slurm_with_a_preempted_point_then_gather(tmp_path: Path):
    shards = write_fake_shards(tmp_path / "shards", shards={"train": 4, "val": 1}, clips_per_shard=2, n_frames=40)
    sweep_dir, launcher_log = tmp_path / "sweep", tmp_path / "launcher.log"
    cmd = [str(BIN / "lipsync-train"), "-m", "hydra/launcher=slurm", "model.optimizer.lr=1e-3,3e-3",
           *tiny_syncnet_job(shards, MAX_STEPS, batches_per_epoch=4, logger="csv"),
           f"hydra.sweep.dir={sweep_dir}", "hydra.launcher.timeout_min=20"]

    def logs() -> list[Path]:
        return [launcher_log, *sorted((sweep_dir / ".submitit").glob("*/*_log.*"))]

    with launcher_log.open("w") as sink:  # the launcher waits for every point, then exits
        launcher = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=job_env(), cwd=tmp_path)
        try:
            wait_for(lambda: checkpoint_step(sweep_dir / "0" / "checkpoints" / "last.ckpt") >= 6, 400,
                     "sweep point 0 to pass step 6", logs, interval=0.5)
            point0 = next((sweep_dir / ".submitit").glob("*_0")).name  # <array job>_0, the point's job
            subprocess.run(["scancel", "-s", "USR1", point0], check=True, timeout=30)
            launcher.wait(timeout=600)
        finally:
            if launcher.poll() is None:
                launcher.kill()
    assert launcher.returncode == 0, describe(logs(), tail=2500)

    script = next((sweep_dir / ".submitit").glob("*/*_submission.sh")).read_text()
    assert "#SBATCH --ntasks-per-node=2" in script and "#SBATCH --signal=USR1@180" in script  # not USR2
    assert [r["Restarts"] for r in job_records(point0)] == ["1"]
    rank0 = "".join((sweep_dir / ".submitit" / point0 / f"{point0}_0_log.{kind}").read_text() for kind in ("out", "err"))
    assert "USR1 received: saving an hpc checkpoint" in rank0
    assert f"Restored all states from the checkpoint at {sweep_dir / '0' / 'hpc_ckpt_1.ckpt'}" in rank0
    ranks = [p for p in logs() if p.name.endswith("_0_log.err")]  # rank 0 of each point, attempts appended
    assert sum(p.read_text().count("Starting with 2 processes") for p in ranks) == 3, describe(ranks)
    for point, lr in ((0, 0.001), (1, 0.003)):
        out = sweep_dir / str(point)
        assert json.loads((out / "metrics.json").read_text())["global_step"] == MAX_STEPS
        assert yaml.safe_load((out / "config.yaml").read_text())["model"]["optimizer"]["lr"] == lr

    gathered = subprocess.run([str(BIN / "lipsync-sweep-gather"), str(sweep_dir)], capture_output=True, text=True,
                              timeout=120, check=False)
    assert gathered.returncode == 0, gathered.stderr
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert [(r["run"], r["model.optimizer.lr"], r["status"], r["global_step"]) for r in rows] == \
        [("0", "0.001", "finished", str(MAX_STEPS)), ("1", "0.003", "finished", str(MAX_STEPS))]
    assert all(float(r["val/loss"]) > 0 for r in rows)
    assert f"| 1 | 0.003 | finished | {MAX_STEPS} |" in (sweep_dir / "summary.md").read_text()
