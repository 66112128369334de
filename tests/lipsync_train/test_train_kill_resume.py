"""`lipsync-train` killed mid-run (SIGKILL) resumes from last.ckpt with `ckpt_path=last`, exactly: it ends with the
weights and optimizer state of a run that was never killed (checkpoints fall on epoch boundaries here, where the
README promises an exact resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers.fake_shards import write_fake_shards
from tests.helpers.train_helpers import TINY_NET, assert_same_training_state

CLI = str(Path(sys.executable).with_name("lipsync-train"))


@pytest.mark.slow  # three CLI start-ups and a kill: ~2-3 min on 2 shared cores
@pytest.mark.timeout(600)
def test_killed_run_resumes_from_last_checkpoint(tmp_path: Path):
    shards = write_fake_shards(tmp_path / "shards", shards={"train": 4, "val": 1}, clips_per_shard=2, n_frames=40)
    out = tmp_path / "out"
    common = [CLI, "experiment=syncnet", f"data.shards={shards}", "logger=csv", "data.num_workers=0",
              "data.batch_size=4", "data.batches_per_epoch=2", "data.val_max_pairs=4", "data.max_offset=2",
              "callbacks.last_checkpoint.every_n_train_steps=2", "trainer.enable_progress_bar=false", *TINY_NET]
    args = [*common, f"paths.output_dir={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*args, "trainer.max_steps=100000"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if last.is_file() and torch.load(last, map_location="cpu", weights_only=True)["global_step"] >= 4:
            break
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)  # our own child's session only
    proc.wait()
    killed_at = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert killed_at >= 4

    subprocess.run([*args, f"trainer.max_steps={killed_at + 4}", "ckpt_path=last"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["global_step"] == killed_at + 4
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["optimizer_states"][0]["state"][0]["step"] == killed_at + 4

    straight = tmp_path / "straight"  # the same fit, never killed
    subprocess.run([*common, f"paths.output_dir={straight}", f"trainer.max_steps={killed_at + 4}"], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240)
    reference = torch.load(straight / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert_same_training_state(ckpt, reference)
