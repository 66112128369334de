"""The WebDataset loader: fake shard layout, pair sampling, disjoint data across ranks and workers, fixed val."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from data_prep import schema
from lipsync_train.data.datamodule import SyncPairDataModule
from lipsync_train.data.windows import OTHER_CLIP
from tests.helpers.fake_shards import write_fake_shards


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    return write_fake_shards(tmp_path_factory.mktemp("shards"), shards={"train": 4, "val": 1, "test": 1},
                             clips_per_shard=2, n_frames=50, size=64)


def make_dm(shard_dir: Path, **kw) -> SyncPairDataModule:
    args = dict(batch_size=4, num_workers=0, batches_per_epoch=6, windows_per_clip=4, shuffle_buffer=8,
                val_windows_per_clip=3, max_offset=10)
    args.update(kw)
    dm = SyncPairDataModule(str(shard_dir), **args)
    dm.setup("fit")
    return dm


def batch_keys(loader) -> list[list[str]]:
    return [batch["key"] for batch in loader]


def test_fake_shards_follow_the_contract_and_the_mouth_follows_the_audio(shard_dir: Path):
    index = json.loads((shard_dir / "index.json").read_text())
    assert [e["name"] for e in index["splits"]["train"]["shards"]] == [f"train-p000-{i:06d}.tar" for i in range(4)]
    assert index["splits"]["train"]["samples"] == 8
    sample = next(iter(wds.WebDataset(str(shard_dir / "shards" / "val-p000-000000.tar"), shardshuffle=False)))
    clip = schema.decode_sample(sample)
    assert clip.frames.shape == (50, 64, 64, 3) and clip.audio.shape == (50 * 640,)
    assert clip.meta.split == "val" and clip.meta.speaker.startswith("val-")
    energy = np.abs(clip.audio.astype(float)).reshape(50, 640).mean(1)
    mouth_dark = -clip.frames[:, 42:54, 22:42].astype(float).mean(axis=(1, 2, 3))  # darker = more open
    assert np.corrcoef(energy, mouth_dark)[0, 1] > 0.7
    assert np.corrcoef(energy[4:], mouth_dark[:-4])[0, 1] < 0.5  # shifted by 4 frames: no longer matches


def test_train_batches_have_model_shapes_and_balanced_labels(shard_dir: Path):
    dm = make_dm(shard_dir, min_shift=5, p_other_clip=0.5)
    batches = list(dm.train_dataloader())
    assert len(batches) == len(dm.train_dataloader()) == 6
    b = batches[0]
    assert b["video"].shape == (4, 16, 3, 32, 64) and str(b["video"].dtype) == "torch.uint8"
    assert b["audio"].shape == (4, 80, 64)
    labels = np.concatenate([x["label"].numpy() for x in batches])
    shifts = np.concatenate([x["audio_shift"].numpy() for x in batches])
    assert 0.2 < labels.mean() < 0.8
    assert np.all(shifts[labels == 1] == 0)
    neg = shifts[labels == 0]
    assert np.all((np.abs(neg) >= 5)) and (neg == OTHER_CLIP).any() and (np.abs(neg) < OTHER_CLIP).any()


def test_workers_and_ranks_read_disjoint_shards_with_equal_batch_counts(shard_dir: Path, monkeypatch):
    per_rank = {}
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        dm = make_dm(shard_dir, num_workers=2, batches_per_epoch=5)
        keys = batch_keys(dm.train_dataloader())
        per_rank[rank] = {k.split("_")[0] for batch in keys for k in batch}  # source id = shard
        assert len(keys) == 5
    assert per_rank[0] and per_rank[1] and not per_rank[0] & per_rank[1]
    assert per_rank[0] | per_rank[1] == {f"train-src{i}" for i in range(4)}  # 2 ranks x 2 workers x 1 shard


def test_too_few_shards_for_ranks_times_workers_is_a_clear_error(shard_dir: Path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "8")
    dm = make_dm(shard_dir)
    with pytest.raises(ValueError, match="4 train shards cannot feed 8 rank"):
        next(iter(dm.train_dataloader()))


def test_shuffle_is_seeded_per_epoch(shard_dir: Path):
    dm = make_dm(shard_dir)
    loader = dm.train_dataloader()
    first, again = batch_keys(loader), batch_keys(loader)
    assert first == again  # no trainer attached: epoch stays 0, same order
    loader.epoch_fn = lambda: 1
    assert batch_keys(loader) != first
    assert batch_keys(make_dm(shard_dir, seed=7).train_dataloader()) != first


def test_validation_set_is_fixed_balanced_and_has_offset_context(shard_dir: Path):
    a, b = make_dm(shard_dir).val_set.pairs, make_dm(shard_dir).val_set.pairs
    assert [(p["key"], p["label"]) for p in a] == [(p["key"], p["label"]) for p in b]
    assert all(np.array_equal(p["audio"], q["audio"]) for p, q in zip(a, b))
    assert len(a) == 6 and sum(p["label"] for p in a) == 3
    ctx = [p for p in a if p["has_context"]]
    assert ctx and ctx[0]["audio_context"].shape == (80, 4 * (16 + 2 * 10))
    val_batch = next(iter(make_dm(shard_dir).val_dataloader()))
    assert val_batch["audio_context"].shape[1:] == (80, 144) and val_batch["has_context"].dtype.is_floating_point is False


def test_syncnet_v2_windows_are_full_bgr_224_faces_with_mfcc(shard_dir: Path):
    dm = make_dm(shard_dir, n_frames=5, image_size=224, crop="full", channel_order="bgr", audio_kind="mfcc",
                 n_audio_bins=13, batch_size=2, batches_per_epoch=1)
    b = next(iter(dm.train_dataloader()))
    assert b["video"].shape == (2, 5, 3, 224, 224) and b["audio"].shape == (2, 13, 20)
    rgb = make_dm(shard_dir, n_frames=5, image_size=224, crop="full", audio_kind="mfcc", n_audio_bins=13,
                  batch_size=2, batches_per_epoch=1).val_set.pairs[0]["video"]
    bgr = dm.val_set.pairs[0]["video"]
    assert np.array_equal(rgb[:, ::-1], bgr)
