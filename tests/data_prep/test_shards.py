"""Splits are speaker-disjoint and stable; shards roll over, are atomic, and webdataset reads them."""

import json

import webdataset as wds

from data_prep import schema
from data_prep.shard_index import build_index
from data_prep.workflow.shards import assign_splits, read_samples, write_shards, write_source_tar
from tests.helpers.clip_factory import make_clip


def test_splits_deterministic_disjoint_and_order_free():
    speakers = [f"spk{i}" for i in range(20)]
    a = assign_splits(speakers, 0.1, 0.2, seed=1)
    b = assign_splits(list(reversed(speakers)) + speakers[:3], 0.1, 0.2, seed=1)
    assert a == b
    counts = {s: list(a.values()).count(s) for s in schema.SPLITS}
    assert counts == {"train": 14, "val": 2, "test": 4}
    assert assign_splits(speakers, 0.1, 0.2, seed=2) != a
    small = assign_splits(["x", "y", "z"], 0.1, 0.1)
    assert sorted(small.values()) == ["test", "train", "val"]


def test_shards_roll_over_and_read_back_with_plain_webdataset(tmp_path):
    splits = {"s0": "train", "s1": "val", "s2": "train"}
    tars = []
    for i, (source, split) in enumerate(splits.items()):
        samples = [schema.encode_sample(make_clip(source, c, n_frames=10, split=split, speaker=source, seed=i * 10 + c))
                   for c in range(3)]
        tars.append(tmp_path / f"{source}.tar")
        write_source_tar(samples, tars[-1])
    assert [s["__key__"] for s in read_samples(tars[0])] == ["s0_0000", "s0_0001", "s0_0002"]
    shard_dir = tmp_path / "shards"
    (shard_dir).mkdir()
    (shard_dir / "train-p000-000009.tar").write_bytes(b"stale")  # a stale shard of this part is removed
    infos = write_shards(tars, shard_dir, part=0, max_samples=4, progress=False)
    names = sorted(p.name for p in shard_dir.iterdir())
    assert names == ["train-p000-000000.tar", "train-p000-000001.tar", "val-p000-000000.tar"]
    assert [i.samples for i in infos if i.split == "train"] == [4, 2]
    keys, splits_seen = [], set()
    for sample in wds.WebDataset(str(shard_dir / "train-p000-{000000..000001}.tar"), shardshuffle=False):
        keys.append(sample["__key__"])
        splits_seen.add(json.loads(sample["meta.json"])["split"])
        assert set(schema.REQUIRED_KEYS) <= set(sample)
    assert keys == [f"s{s}_000{c}" for s in (0, 2) for c in range(3)] and splits_seen == {"train"}
    index = build_index(infos, splits, [{"id": "x", "stage": "faces", "reason": "no_face"}],
                        {"total": 4, "kept": 3, "dropped": 1})
    assert index["splits"]["train"]["samples"] == 6 and index["splits"]["val"]["speakers"] == ["s1"]
    assert index["splits"]["train"]["seconds"] == 6 * 10 / schema.FPS
    assert index["drops"]["by_stage"] == {"faces": {"no_face": 1}}
