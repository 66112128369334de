"""A real 2-process DDP fit on CPU (gloo, ddp_spawn): ranks see disjoint clips in equal batch counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.fake_shards import write_fake_shards
from tests.helpers.train_helpers import TINY_NET, run


@pytest.mark.slow  # two spawned processes: ~60-100 s on 2 shared cores
@pytest.mark.timeout(300)
def test_two_process_ddp_fit_on_cpu(tmp_path: Path):
    shards = write_fake_shards(tmp_path / "shards", shards={"train": 4, "val": 1}, clips_per_shard=2, n_frames=40)
    keys_dir = tmp_path / "keys"
    summary = run(shards, tmp_path / "out", [
        "experiment=syncnet", "trainer=ddp_cpu", *TINY_NET, "data.num_workers=1", "data.batch_size=4",
        "data.batches_per_epoch=3", "trainer.max_steps=3", "data.val_max_pairs=6", "data.max_offset=3",
        "validate=false", "+callbacks.key_log._target_=lipsync_train.launch.callbacks.SampleKeyLog",
        f"+callbacks.key_log.dirpath={keys_dir}",
    ])
    lines = {r: (keys_dir / f"keys-rank{r}.txt").read_text().splitlines() for r in (0, 1)}
    assert len(lines[0]) == len(lines[1]) == 3  # equal batch counts (DDP would hang otherwise)
    sources = {r: {key.split("_")[0] for line in lines[r] for key in line.split()} for r in (0, 1)}
    assert sources[0] and sources[1] and not sources[0] & sources[1]  # disjoint shards -> disjoint clips
    assert summary["last_checkpoint"] and Path(summary["last_checkpoint"]).is_file()
