"""Read the shard directory written by ``lipsync-prep``: ``DIR/index.json`` and ``DIR/shards/{split}-*.tar``.

``index.json`` holds ``{"splits": {split: {"shards": [{"name", "samples", "seconds"}, ...], ...}}}``;
the training side only needs each split's shard paths and sample counts, and
checks they exist before any worker starts so a wrong path fails with its name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SplitShards:
    """The shards of one split, as listed in index.json."""

    split: str
    paths: list[str]
    samples: int


def read_split(shard_dir: str | Path, split: str) -> SplitShards:
    """-> the shard paths and sample count of ``split`` under ``shard_dir`` (a ``lipsync-prep`` output dir)."""
    root = Path(shard_dir)
    index_path = root / "index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"data.shards={str(root)!r}: no index.json there; expected a directory written by "
                                f"lipsync-prep (index.json + shards/{{split}}-*.tar)")
    index = json.loads(index_path.read_text())
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
