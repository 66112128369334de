"""End-to-end fits on fake shards: outputs, checkpoint contents, exact resume, the sync scorer, syncnet_v2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync_train.networks import SyncNetV2
from lipsync_train.networks.sync_scorer import export_syncnet_v2, load_sync_scorer
from tests.helpers.fake_shards import fake_clip, write_fake_shards
from tests.helpers.train_helpers import TINY_NET, run

@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    return write_fake_shards(tmp_path_factory.mktemp("shards"), shards={"train": 4, "val": 1}, clips_per_shard=2,
                             n_frames=50, size=64)


def test_fit_writes_outputs_and_resumes_exactly(shard_dir: Path, tmp_path: Path):
    base = ["experiment=syncnet", *TINY_NET, "data.batch_size=8", "data.batches_per_epoch=3", "data.val_max_pairs=8",
            "data.max_offset=4", "callbacks.last_checkpoint.every_n_train_steps=3"]
    summary = run(shard_dir, tmp_path, [*base, "trainer.max_steps=6"])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["global_step"] == 6 and set(saved["metrics"]) >= {"val/acc", "val/auc", "val/loss", "val/offset_acc"}
    assert saved == json.loads(json.dumps(summary))
    assert Path(saved["best_checkpoint"]).is_file() and saved["last_checkpoint"].endswith("last.ckpt")
    assert f"shards: {shard_dir}" in (tmp_path / "config.yaml").read_text()
    assert (tmp_path / "git_revision.txt").read_text().strip()

    ckpt = torch.load(saved["last_checkpoint"], map_location="cpu", weights_only=True)  # plain data only
    assert ckpt["global_step"] == 6 and ckpt["config"]["data"]["shards"] == str(shard_dir)
    assert ckpt["sync_net"]["window"]["n_frames"] == 16 and ckpt["optimizer_states"][0]["state"][0]["step"] == 6

    resumed = run(shard_dir, tmp_path, [*base, "trainer.max_steps=9", "ckpt_path=last"])
    assert resumed["global_step"] == 9
    ckpt = torch.load(resumed["last_checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["optimizer_states"][0]["state"][0]["step"] == 9  # Adam moments continued, not restarted

    scorer = load_sync_scorer(resumed["last_checkpoint"])
    clip = fake_clip("probe", 0, "test", "probe-spk", 40, 64, np.random.default_rng(3))
    offset, confidence = scorer.av_offset(clip.frames, clip.audio, max_offset=5)
    assert isinstance(offset, int) and -5 <= offset <= 5 and confidence >= 0


@pytest.mark.slow  # 224 px 3D convs: ~40 s on 2 CPU cores
def test_syncnet_v2_trains_a_step_and_exports_the_official_format(shard_dir: Path, tmp_path: Path):
    summary = run(shard_dir, tmp_path, ["experiment=syncnet_v2", "data.batch_size=2", "data.batches_per_epoch=1",
                                        "trainer.max_steps=1", "data.val_max_pairs=2", "data.max_offset=2",
                                        "data.val_windows_per_clip=1"])
    assert summary["global_step"] == 1 and "val/auc" in summary["metrics"]
    official = export_syncnet_v2(summary["last_checkpoint"], tmp_path / "syncnet_v2.model")
    state = torch.load(official, weights_only=True)
    assert set(state) == {k for k in SyncNetV2().state_dict() if not k.endswith("num_batches_tracked")}
    scorer = load_sync_scorer(official)  # a bare official-format state dict loads too
    assert isinstance(scorer.net, SyncNetV2) and scorer.window.channel_order == "bgr"
    clip = fake_clip("probe", 0, "test", "probe-spk", 12, 64, np.random.default_rng(4))
    offset, confidence = scorer.av_offset(clip.frames, clip.audio, max_offset=2)
    assert -2 <= offset <= 2 and confidence >= 0


def test_load_sync_scorer_errors_name_the_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        load_sync_scorer(tmp_path / "nope.ckpt")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(KeyError, match="other.pt.*sync_net"):
        load_sync_scorer(tmp_path / "other.pt")
