"""The acceptance test of the diffusion recipe: on the generated Arabic data, the tiny recipe learns mouths that
follow the audio, as judged by a SyncNet the UNet never saw.

From nothing, as a user would run it: ``lipsync-make-data`` -> ``lipsync-prep`` -> the SyncNet expert (the UNet's
SyncNet loss) and, separately, the judge (``experiment=sync_judge``: another architecture and seed, never a loss)
-> ``lipsync-train experiment=unet_tiny`` (the interface of issue 7, as written) for 700 steps (150 of them the
VAE warm-up). Then every test-split clip (a speaker in no training split) has its mouth regenerated twice, from
its own audio and from another clip's, with references half the clip away (as training takes them), and the
judge scores every generation against the audio that drove it and against the other audio, offsets included
(:func:`evaluation.metrics.sync_margin.sync_margin`). A model that ignores its audio scores the same either way.
The thresholds are what held on every seed tried (``benchmarks/bench_sync_margin.py``; figures in the README).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.demo.outputs import read_metrics_csv
from lipsync_train.inference.pipeline import LipSyncPipeline
from evaluation.metrics.sync_margin import check_judge_independent, split_clips, sync_margin
from lipsync_train.networks.sync_scorer import load_sync_scorer
from tests.helpers.sync_nets import cli


@pytest.mark.slow  # under 20 min in a clean-clone CI run on 2 cores: data, shards, expert, judge, UNet, scoring
@pytest.mark.timeout(3000)
def test_tiny_recipe_generates_mouths_in_sync_with_their_driving_audio(sync_nets, tmp_path: Path):
    prep, expert, judge, unet_dir = sync_nets["prep"], sync_nets["expert"], sync_nets["judge"], tmp_path / "unet"
    cli("lipsync_train.train", "experiment=unet_tiny", f"data.shards={prep}", f"model.syncnet_ckpt={expert}",
        f"paths.output_dir={unet_dir}", "trainer.max_steps=700", "logger=csv", "trainer.log_every_n_steps=10",
        cwd=tmp_path)

    _, noise = read_metrics_csv(unet_dir / "csv" / "metrics.csv")["train/noise"]  # logged after the VAE warm-up only
    assert len(noise) >= 10 and noise[-5:].mean() < 0.8 * noise[:5].mean(), noise

    unet = unet_dir / "checkpoints" / "last.ckpt"
    check_judge_independent(unet, judge)
    result = sync_margin(LipSyncPipeline.from_checkpoint(unet), load_sync_scorer(judge),
                         split_clips(str(prep), "test", 4, 50), num_steps=10, guidance_scale=1.0)
    summary = {k: result[k] for k in ("margin", "wins", "in_sync", "confidence_vs_driving", "confidence_vs_other",
                                      "ground_truth_confidence")}
    # the judge itself: the ground truth in sync and confident
    assert all(abs(g["offset"]) <= 1 for g in result["ground_truth"]), result["ground_truth"]
    # measured with benchmarks/bench_sync_margin.py (this chain, seed 1234 = this test's; 8 generations): the
    # default recipe margin 0.134, better with the driving audio 7 / 8, in sync 8 / 8; its null control
    # (data.audio_from=other_clip) -0.006, 4 / 8, 1 / 8, which fails the in-sync bound below. The bounds are the
    # ones that held for the former recipe on three seeds; issue 30's (SYNC_BOUNDS) are not reached yet
    assert result["margin"] > 0.03, summary
    assert result["wins"] >= 0.5, summary
    assert result["in_sync"] >= 0.5, (summary, [g["vs_driving"] for g in result["generations"]])
