"""The data-prep and evaluation templates on the local SLURM cluster.

slurm/submit_prep.sh submits lipsync-prep as a 2-task array over manifest parts and a merge job that
waits for the whole array (afterok); slurm/eval.sbatch scores a generated video with lipsync-eval.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from tests.helpers.slurm_helpers import (
    BIN,
    SLURM_DIR,
    assert_completed,
    job_env,
    job_records,
    sbatch,
    wait_until_finished,
)
from tests.helpers.video_helpers import ffmpeg_available

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster"),
              pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed")]


@pytest.mark.timeout(900)
def test_prep_array_over_two_parts_then_dependent_merge(tmp_path: Path):
    gen = tmp_path / "generated"
    made = subprocess.run([str(BIN / "lipsync-make-data"), f"out_dir={gen}", "n_speakers=2", "videos_per_speaker=1",
                           "n_broken=1", "workers=1", "seed=7"], capture_output=True, text=True, timeout=600,
                          env=job_env(), check=False)
    assert made.returncode == 0, made.stderr[-3000:]
    out = tmp_path / "prep"
    env = job_env(LIPSYNC_PREP=str(BIN / "lipsync-prep"), PREP_SBATCH_ARGS="--cpus-per-task=1")
    proc = subprocess.run(["bash", str(SLURM_DIR / "submit_prep.sh"), "2", f"manifest={gen / 'manifest.jsonl'}",
                           f"out_dir={out}"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    ids = dict(item.split("=") for item in proc.stdout.split())

    def logs() -> list[Path]:
        return sorted((out / "logs" / "slurm").glob("*.out"))

    merge_now = job_records(ids["merge"])
    assert merge_now and merge_now[0]["JobState"] == "PENDING" and merge_now[0]["Reason"] == "Dependency"
    array = wait_until_finished(ids["array"], 600, logs)
    assert_completed(array, logs)
    assert sorted(r["ArrayTaskId"] for r in array) == ["0", "1"]
    merge = wait_until_finished(ids["merge"], 300, logs)
    assert_completed(merge, logs)
    assert merge[0]["StartTime"] >= max(r["EndTime"] for r in array)  # ISO times: string order is time order

    texts = "\n".join(p.read_text() for p in logs())
    assert "lipsync-prep part 0/2" in texts and "lipsync-prep part 1/2" in texts and "lipsync-prep merge" in texts
    assert (out / "config-part-000-of-002.yaml").is_file() and (out / "config-part-001-of-002.yaml").is_file()
    index = json.loads((out / "index.json").read_text())
    assert index["parts"] == 2 and sum(s["samples"] for s in index["splits"].values()) > 0
    assert {s["name"] for split in index["splits"].values() for s in split["shards"]} == \
        {p.name for p in (out / "shards").glob("*.tar")}
    manifest = map(json.loads, (gen / "manifest.jsonl").read_text().splitlines())
    planted = {row["id"]: row["expect_drop"] for row in manifest if "expect_drop" in row}
    dropped = {d["id"]: d["reason"] for d in map(json.loads, (out / "dropped.jsonl").read_text().splitlines())}
    assert planted and {k: dropped.get(k) for k in planted} == planted  # each part recorded its drops


@pytest.mark.timeout(600)
def test_eval_job_scores_a_video(tmp_path: Path):
    from evaluation.syncnet_loader import build_syncnet_v2
    from tests.helpers.video_helpers import make_video

    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / "clip.mp4", n_frames=10)
    torch.manual_seed(0)
    weights = tmp_path / "syncnet_v2.model"
    torch.save(build_syncnet_v2().state_dict(), weights)
    out, log = tmp_path / "eval", tmp_path / "eval.out"
    job = sbatch([f"--output={log}", SLURM_DIR / "eval.sbatch", f"videos={videos}", f"syncnet_weights={weights}",
                  "crop=none", "metrics=[lse]", f"out_dir={out}", "lse.workers=1"],
                 env=job_env(LIPSYNC_EVAL=str(BIN / "lipsync-eval")))
    assert_completed(wait_until_finished(job, 500, [log]), [log])
    results = json.loads((out / "results.json").read_text())
    assert [v["video"] for v in results["videos"]] == ["clip.mp4"]
    # the job's scores are the reference port's of syncnet_python for the same weights and video
    from evaluation.reference_lse import reference_evaluate
    from evaluation.syncnet_loader import load_syncnet

    offset, lse_c, lse_d = reference_evaluate(load_syncnet(str(weights)), videos / "clip.mp4")
    row = results["videos"][0]
    assert row["offset"] == offset, row
    assert (row["lse_c"], row["lse_d"]) == pytest.approx((lse_c, lse_d), rel=1e-4, abs=1e-4), row
    assert (results["lse_c"], results["lse_d"]) == pytest.approx((row["lse_c"], row["lse_d"]))
