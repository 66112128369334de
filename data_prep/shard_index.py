"""The shard directory's ``index.json``: written by ``lipsync-prep``, read by training, evaluation and the demo.

``DIR/index.json`` + ``DIR/shards/{split}-*.tar``. The index holds
``{"schema_version", "splits": {split: {"shards": [{"name", "samples", "seconds"}, ...],
"samples", "seconds", "speakers"}}, "speaker_splits", "drops", "sources", ...}``.
This module is its one owner: :func:`build_index` lays it out, :func:`write_index`
writes it atomically, :func:`read_index` reads it and refuses an index written
under another shard schema (``schema_version`` != :data:`data_prep.schema.SCHEMA_VERSION`),
and :func:`read_split` gives the training side each split's shard paths and
sample counts, checked to exist before any worker starts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from data_prep import schema

log = logging.getLogger(__name__)
INDEX_NAME = "index.json"


def build_index(infos: list, speaker_splits: dict[str, str], drops: list[dict],
                sources: dict[str, int], extra: dict | None = None) -> dict:
    """The ``index.json`` document: per split shards and totals, the split map, drop counts."""
    splits = {}
    for split in schema.SPLITS:
        shards = sorted((i for i in infos if i.split == split and i.samples), key=lambda i: i.name)
        splits[split] = {
            "shards": [{k: v for k, v in asdict(i).items() if k != "split"} for i in shards],
            "samples": sum(i.samples for i in shards),
            "seconds": round(sum(i.seconds for i in shards), 3),
            "speakers": sorted(s for s, sp in speaker_splits.items() if sp == split),
        }
    by_stage: dict[str, dict[str, int]] = {}
    for drop in drops:
        stage = by_stage.setdefault(drop["stage"], {})
        stage[drop["reason"]] = stage.get(drop["reason"], 0) + 1
    index = {
        "schema_version": schema.SCHEMA_VERSION,
        "splits": splits,
        "speaker_splits": dict(sorted(speaker_splits.items())),
        "drops": {"total": len(drops), "by_stage": by_stage},
        "sources": sources,
    }
    index.update(extra or {})
    return index




def write_json_atomic(data, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)


def write_index(index: dict, shard_dir: str | Path) -> Path:
    path = Path(shard_dir) / INDEX_NAME
    write_json_atomic(index, path)
    return path


def face_template(index: dict) -> str:
    """The crop the shards' faces were aligned to (``align.template``; indices written before it: ``mesh``)."""
    return index.get("align", {}).get("template", "mesh")


def read_index(shard_dir: str | Path) -> dict:
    """``shard_dir/index.json`` -> the index, after checking it was written under this shard schema."""
    root = Path(shard_dir)
    index_path = root / INDEX_NAME
    if not index_path.is_file():
        raise FileNotFoundError(f"data.shards={str(root)!r}: no index.json there; expected a directory written by "
                                f"lipsync-prep (index.json + shards/{{split}}-*.tar)")
    index = json.loads(index_path.read_text())
    version = index.get("schema_version")
    if version is None:
        log.warning("%s: no 'schema_version' field; reading it as schema version %d", index_path,
                    schema.SCHEMA_VERSION)
    elif version != schema.SCHEMA_VERSION:
        raise ValueError(f"{index_path}: field 'schema_version' is {version!r}, this code reads shard schema "
                         f"{schema.SCHEMA_VERSION}; regenerate the shards with this version's lipsync-prep")
    return index


@dataclass(frozen=True)
class SplitShards:
    """The shards of one split, as listed in index.json."""

    split: str
    paths: list[str]
    samples: int


def read_split(shard_dir: str | Path, split: str) -> SplitShards:
    """-> the shard paths and sample count of ``split`` under ``shard_dir`` (a ``lipsync-prep`` output dir)."""
    root = Path(shard_dir)
    index_path = root / INDEX_NAME
    index = read_index(root)
    splits = index.get("splits")
    if not isinstance(splits, dict) or split not in splits:
        raise KeyError(f"{index_path}: field 'splits.{split}' missing; found splits "
                       f"{sorted(splits) if isinstance(splits, dict) else splits!r}")
    entries = splits[split].get("shards", [])
    paths = [root / "shards" / e["name"] for e in entries]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{index_path}: split {split!r} lists shards that do not exist: {missing[:3]}")
    samples = int(splits[split].get("samples", sum(int(e.get("samples", 0)) for e in entries)))
    return SplitShards(split, [str(p) for p in paths], samples)
