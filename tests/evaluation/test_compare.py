"""lipsync-compare: two UNet checkpoints regenerate the same held-out clips; one table with the ground truth."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from evaluation.compare import markdown_table, shifted_references
from evaluation.fid_inception import FIDInceptionV3
from evaluation.syncnet_loader import build_syncnet_v2
from tests.helpers.fake_shards import write_fake_shards
from tests.helpers.unet_helpers import tiny_parts, write_unet_checkpoint
from tests.helpers.video_helpers import ffmpeg_available

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed")


def test_references_come_from_another_part_of_the_clip():
    frames = torch.arange(10)[:, None]
    refs = shifted_references(frames)
    assert torch.all(refs != frames) and sorted(refs.flatten().tolist()) == list(range(10))


def test_table_shows_only_the_columns_that_were_scored():
    table = markdown_table({"ground_truth": {"lse_c": 7.5, "lse_d": 6.0, "fid": None},
                            "model": {"lse_c": 5.25, "lse_d": None, "fid": None}})
    assert "FID" not in table and "| model | 5.250 | - |" in table


@pytest.mark.slow
def test_two_models_and_the_ground_truth_in_one_table(tmp_path):
    """~1 min: 2 test clips of 30 frames, two tiny UNets (different seeds), LSE + FID with random weights."""
    shards = write_fake_shards(tmp_path / "shards", {"train": 1, "val": 1, "test": 1}, clips_per_shard=2,
                               n_frames=30, size=64)
    a = write_unet_checkpoint(tmp_path / "a.ckpt", tiny_parts(seed=0))
    b = write_unet_checkpoint(tmp_path / "b.ckpt", tiny_parts(seed=1))
    syncnet, inception = tmp_path / "syncnet_v2.model", tmp_path / "pt_inception.pth"
    torch.save(build_syncnet_v2().state_dict(), syncnet)
    torch.save(FIDInceptionV3().state_dict(), inception)
    out = tmp_path / "compare"
    proc = subprocess.run([sys.executable, "-m", "evaluation.compare", f"shards={shards}", f"out_dir={out}",
                           f"models={{baseline: {a}, finetuned: {b}}}", f"syncnet_v2_weights={syncnet}",
                           f"inception_weights={inception}", "generate.num_steps=2", "max_frames=30"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert list(results["rows"]) == ["ground_truth", "baseline", "finetuned"] and results["clips"] == 2
    for name, row in results["rows"].items():
        assert row["failed"] == 0 and np.isfinite(row["lse_c"]) and np.isfinite(row["fid"]), name
    assert results["rows"]["ground_truth"]["fid"] < 1e-3  # the control: the ground truth against itself
    assert results["rows"]["baseline"]["fid"] > results["rows"]["ground_truth"]["fid"]
    assert len(list((out / "finetuned").glob("*.mp4"))) == 2
    table = (out / "table.md").read_text()
    assert table.count("\n") == 5 and "| baseline |" in table and "LSE-C (syncnet_v2)" in table
