"""slurm/train.sbatch on the local SLURM cluster: a 2-task CPU DDP fit through sbatch + srun that is
preempted (USR1) mid-run, saves an hpc checkpoint, requeues itself and finishes at the same step count.

Lightning's SLURMEnvironment requeues, at a step boundary (lipsync_train.launch.cluster.StepBoundaryRequeue); the requeued attempt keeps the job id, so RUN_DIR and the
wandb run id stay the same, and it resumes from hpc_ckpt_1.ckpt with the optimizer state intact.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from tests.helpers.fake_shards import write_fake_shards
from tests.helpers.slurm_helpers import (
    BIN,
    SLURM_DIR,
    assert_completed,
    checkpoint_step,
    job_env,
    job_records,
    sbatch,
    tiny_syncnet_job,
    wait_for,
    wait_until_finished,
)

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]
MAX_STEPS = 30


@pytest.mark.timeout(900)
def test_ddp_job_preempted_with_usr1_requeues_and_resumes(tmp_path: Path):
    shards = write_fake_shards(tmp_path / "shards", shards={"train": 4, "val": 1}, clips_per_shard=2, n_frames=40)
    run_dir, log, keys = tmp_path / "run", tmp_path / "train.out", tmp_path / "keys"
    overrides = [*tiny_syncnet_job(shards, MAX_STEPS, batches_per_epoch=5, logger="wandb"),
                 "+callbacks.key_log._target_=lipsync_train.launch.callbacks.SampleKeyLog", f"+callbacks.key_log.dirpath={keys}"]
    env = job_env(RUN_DIR=str(run_dir), LIPSYNC_TRAIN=str(BIN / "lipsync-train"))
    job = sbatch(["--ntasks-per-node=2", f"--output={log}", SLURM_DIR / "train.sbatch", *overrides], env=env)

    # preempt once training is under way (last.ckpt is written every 2 steps)
    wait_for(lambda: checkpoint_step(run_dir / "checkpoints" / "last.ckpt") >= 6, 400, "the fit to pass step 6", [log])
    subprocess.run(["scancel", "-s", "USR1", job], check=True, timeout=30)  # what --signal=USR1@180 sends
    hpc = run_dir / "hpc_ckpt_1.ckpt"
    signal_step = wait_for(lambda: checkpoint_step(hpc), 120, "Lightning to save hpc_ckpt_1.ckpt", [log], interval=0.3)
    assert 6 <= signal_step < MAX_STEPS
    at_signal = torch.load(hpc, map_location="cpu", weights_only=True)
    assert at_signal["optimizer_states"][0]["state"][0]["step"] == signal_step  # saved between steps, not inside one
    wait_for(lambda: any(r.get("Restarts") == "1" for r in job_records(job)), 120, "the job to be requeued", [log])
    assert_completed(wait_until_finished(job, 500, [log]), [log])

    text = log.read_text()
    assert "attempt 1" in text and "attempt 2" in text and "attempt 3" not in text, text[-3000:]
    assert text.count("Starting with 2 processes") == 2, "both attempts run 2-rank DDP under srun"
    assert "USR1 received: saving an hpc checkpoint" in text  # lipsync_train.launch.cluster.StepBoundaryRequeue
    assert f"Restored all states from the checkpoint at {hpc}" in text  # resumed, not restarted
    assert "Loaded model weights from the checkpoint" not in text  # final validation used the final weights
    assert not list(run_dir.glob("hpc_ckpt_*.ckpt"))  # retired after the finished fit

    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["global_step"] == MAX_STEPS and "val/acc" in summary["metrics"]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == MAX_STEPS
    assert last["optimizer_states"][0]["state"][0]["step"] == MAX_STEPS  # Adam continued across the requeue

    wandb_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and len({p.name.rsplit("-", 1)[-1] for p in wandb_runs}) == 1  # one run id
    sources = [{k.split("_")[0] for line in (keys / f"keys-rank{r}.txt").read_text().split("\n") for k in line.split()}
               for r in (0, 1)]
    assert sources[0] and sources[1] and not sources[0] & sources[1]  # the two ranks read disjoint shards
