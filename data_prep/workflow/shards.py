"""Shard stage: speaker-disjoint splits, WebDataset tar shards, and the index.

Processed sources are kept as one small tar per source in the work folder
(written atomically, so a killed run never leaves half a source). This stage
repacks them, in a fixed order, into shards of a configurable size per split:

    DIR/shards/<split>-p<part>-<n:06d>.tar      e.g. train-p000-000003.tar

A shard is written as ``<name>.tmp`` and renamed when complete, so a partial
shard never appears under its final name; re-running rewrites the same bytes.
Splits are decided per speaker from the *whole* manifest (every part of a
SLURM array computes the same map), so no speaker is on two sides.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import webdataset as wds

from data_prep import schema


@dataclass
class ShardInfo:
    name: str
    split: str
    samples: int
    seconds: float
    bytes: int


def assign_splits(speakers: Iterable[str], val_fraction: float = 0.1, test_fraction: float = 0.1,
                  seed: int = 0) -> dict[str, str]:
    """Speaker -> split, deterministic in (speakers, fractions, seed), not in their order.

    Speakers are ranked by a salted hash; the first ``round(test_fraction*N)``
    go to test, the next ``round(val_fraction*N)`` to val. With three or more
    speakers a non-zero fraction always gets at least one speaker.
    """
    unique = sorted(set(speakers))
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in [0, 1) "
                         "and sum to less than 1")
    ranked = sorted(unique, key=lambda s: hashlib.sha1(f"{seed}:{s}".encode()).hexdigest())
    n = len(ranked)

    def count(fraction: float) -> int:
        wanted = round(fraction * n)
        return max(wanted, 1) if fraction > 0 and n >= 3 else wanted

    n_test, n_val = count(test_fraction), count(val_fraction)
    splits = {}
    for rank, speaker in enumerate(ranked):
        splits[speaker] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return splits


def write_source_tar(samples: list[dict], path: Path) -> None:
    """Write one source's encoded samples to ``path`` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with wds.TarWriter(str(tmp)) as sink:
        for sample in samples:
            sink.write(sample)
    tmp.replace(path)


def read_samples(path: Path) -> Iterator[dict]:
    """Yield the samples of a tar as {"__key__", ext: bytes} dicts, in file order."""
    current: dict | None = None
    with tarfile.open(path) as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.partition(".")
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                current = {"__key__": key}
            current[ext] = tar.extractfile(member).read()
    if current is not None:
        yield current


def sample_seconds(sample: dict) -> float:
    return json.loads(sample[schema.META])["n_frames"] / schema.FPS


def sample_split(sample: dict) -> str:
    return json.loads(sample[schema.META])["split"]


class _SplitWriter:
    """Rolls over to a new shard when the sample or byte budget is reached."""

    def __init__(self, shard_dir: Path, split: str, part: int, max_samples: int, max_bytes: int):
        self.shard_dir, self.split, self.part = shard_dir, split, part
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.infos: list[ShardInfo] = []
        self._sink = None

    def _open(self) -> None:
        name = f"{self.split}-p{self.part:03d}-{len(self.infos):06d}.tar"
        self._tmp = self.shard_dir / (name + ".tmp")
        self._sink = wds.TarWriter(str(self._tmp))
        self.infos.append(ShardInfo(name, self.split, 0, 0.0, 0))

    def _close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self.infos[-1].bytes = self._tmp.stat().st_size
            self._tmp.replace(self.shard_dir / self.infos[-1].name)
            self._sink = None

    def write(self, sample: dict) -> None:
        size = sum(len(v) for k, v in sample.items() if not k.startswith("__"))
        info = self.infos[-1] if self.infos else None
        if self._sink is None or info.samples >= self.max_samples or (info.samples and info.bytes + size > self.max_bytes):
            self._close()
            self._open()
            info = self.infos[-1]
        self._sink.write(sample)
        info.samples += 1
        info.bytes += size
        info.seconds += sample_seconds(sample)

    def close(self) -> list[ShardInfo]:
        self._close()
        return self.infos


def write_shards(source_tars: list[Path], shard_dir: Path, part: int = 0, max_samples: int = 200,
                 max_megabytes: float = 512.0, progress: bool = True) -> list[ShardInfo]:
    """Repack per-source tars (in the given order) into split shards; returns their infos."""
    from tqdm import tqdm

    shard_dir.mkdir(parents=True, exist_ok=True)
    for stale in list(shard_dir.glob(f"*-p{part:03d}-*.tar")) + list(shard_dir.glob(f"*-p{part:03d}-*.tar.tmp")):
        stale.unlink()
    writers = {split: _SplitWriter(shard_dir, split, part, max_samples, int(max_megabytes * 2**20))
               for split in schema.SPLITS}
    for path in tqdm(source_tars, desc=f"shards (part {part})", unit="source", disable=not progress):
        for sample in read_samples(path):
            split = sample_split(sample)
            if split not in writers:
                raise ValueError(f"{path}: sample {sample['__key__']} has unknown split {split!r}")
            writers[split].write(sample)
    return [info for split in schema.SPLITS for info in writers[split].close()]


def write_jsonl_atomic(rows: Iterable[dict], path: Path) -> None:
    buf = io.StringIO()
    for row in rows:
        buf.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
