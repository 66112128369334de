"""Training on generated talking faces really learns sync, and the sync scorer then finds audio offsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lipsync_train.networks.sync_scorer import load_sync_scorer
from tests.helpers.fake_shards import fake_clip, write_fake_shards
from tests.helpers.train_helpers import run


@pytest.mark.slow  # 200 training steps: ~50 s alone, 2+ min on a shared 2-core machine
@pytest.mark.timeout(400)
def test_syncnet_beats_chance_by_a_wide_margin_and_finds_offsets(tmp_path: Path):
    shards = write_fake_shards(tmp_path / "shards", shards={"train": 4, "val": 1}, clips_per_shard=4, n_frames=80,
                               size=64, seed=5)
    summary = run(shards, tmp_path / "out", ["experiment=syncnet", "trainer.max_steps=200",
                                             "data.batches_per_epoch=50", "data.batch_size=16", "data.max_offset=8"])
    metrics = summary["metrics"]
    # chance is 0.5 for acc / auc and 3/17 for offset_acc; this run reaches ~0.8 / ~0.94 / ~0.7
    assert metrics["val/auc"] > 0.8 and metrics["val/acc"] > 0.7 and metrics["val/offset_acc"] > 0.4, metrics

    scorer = load_sync_scorer(summary["last_checkpoint"])
    clip = fake_clip("probe", 0, "test", "val-spk1", 100, 64, np.random.default_rng(11))
    base, conf = scorer.av_offset(clip.frames, clip.audio, max_offset=8)
    delayed = np.concatenate([np.zeros(4 * 640, np.int16), clip.audio[:-4 * 640]])  # audio 4 frames late
    shifted, _ = scorer.av_offset(clip.frames, delayed, max_offset=8)
    assert abs(base) <= 1 and conf > 0
    assert abs(shifted - (base - 4)) <= 1  # syncnet_python sign: audio of frame t sits at t - offset
