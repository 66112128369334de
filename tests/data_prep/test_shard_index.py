"""index.json has one owner (data_prep/shard_index.py): written there, read there, its schema version checked."""

from __future__ import annotations

import json

import pytest

from data_prep import schema
from data_prep.shard_index import build_index, read_index, read_split, write_index
from data_prep.workflow.shards import ShardInfo


def test_index_round_trip_and_split_paths(tmp_path):
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "train-p000-000000.tar").write_bytes(b"")
    infos = [ShardInfo(name="train-p000-000000.tar", split="train", samples=3, seconds=7.5, bytes=10)]
    write_index(build_index(infos, {"spk1": "train"}, [], {"total": 1, "kept": 1, "dropped": 0}), tmp_path)
    index = read_index(tmp_path)
    assert index["schema_version"] == schema.SCHEMA_VERSION and index["splits"]["train"]["samples"] == 3
    split = read_split(tmp_path, "train")
    assert split.samples == 3 and split.paths == [str(tmp_path / "shards" / "train-p000-000000.tar")]


def test_an_index_of_another_schema_version_is_refused_naming_the_field(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"schema_version": schema.SCHEMA_VERSION + 1, "splits": {}}))
    with pytest.raises(ValueError, match=rf"index\.json: field 'schema_version' is {schema.SCHEMA_VERSION + 1}.*regenerate"):
        read_split(tmp_path, "train")
