"""The dataset run: manifest part -> worker pool -> per-source results -> shards -> index.

Work folder layout under ``out_dir`` (everything a resumed run needs):

    work/sources/<key>.tar     the encoded clips of one finished source (atomic)
    work/done/<key>.json       its record: kept clip keys, drops, stage timings
    work/parts/part-I-of-N.json  shards and drops of a finished part
    shards/*.tar  index.json  dropped.jsonl  config.yaml   the outputs

Resume: a source whose ``done`` record exists is not processed again, and the
record is written only after its tar, so a kill at any moment loses at most
the sources in flight. Shards of a part are rewritten from the finished
sources in manifest order, which makes a resumed run produce the same shards
as an uninterrupted one. ``part=I/N`` processes every N-th source from I and
writes only its own shards; ``merge_only=true`` (the dependent job of a SLURM
array) checks all N parts are there and writes ``index.json`` and
``dropped.jsonl``. Without ``part`` a run does both.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from data_prep import schema
from data_prep.workflow.manifest import ManifestEntry, parse_part, read_manifest, select_part
from data_prep.workflow.process_source import PIPELINE_VERSION, process_source
from data_prep.shard_index import build_index, write_index, write_json_atomic
from data_prep.workflow.shards import ShardInfo, assign_splits, write_jsonl_atomic, write_shards, write_source_tar
from data_prep.workflow.sync_filter import make_sync_filter, resolve_sync_expert, sync_not_checked

log = logging.getLogger(__name__)


class Paths:
    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir)
        self.work = self.out / "work"
        self.sources = self.work / "sources"
        self.done = self.work / "done"
        self.parts = self.work / "parts"
        self.shards = self.out / "shards"

    def make(self) -> "Paths":
        for d in (self.sources, self.done, self.parts, self.shards):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def done_record(self, source_id: str) -> Path:
        return self.done / f"{schema.sample_key(source_id, 0)[:-5]}.json"

    def source_tar(self, source_id: str) -> Path:
        return self.sources / f"{schema.sample_key(source_id, 0)[:-5]}.tar"

    def part_record(self, index: int, count: int) -> Path:
        return self.parts / f"part-{index:03d}-of-{count:03d}.json"


# --- worker side -------------------------------------------------------------

_WORKER: dict = {}


def _quiet_native_logs() -> None:
    """mediapipe (glog/absl) and PySceneDetect log every video at INFO; keep the progress bar readable."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("pyscenedetect").setLevel(logging.WARNING)


def _init_worker(cfg: dict, out_dir: str, threads: int) -> None:
    _quiet_native_logs()
    import cv2

    cv2.setNumThreads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    logging.basicConfig(level=logging.WARNING)
    _WORKER["cfg"], _WORKER["paths"] = cfg, Paths(out_dir)
    sync = cfg["sync"]
    _WORKER["sync"] = make_sync_filter(sync["ckpt"], sync["scorer_loader"], min_confidence=sync["min_confidence"],
                                       max_abs_offset=sync["max_abs_offset"], search_offset=sync["search_offset"],
                                       apply_shift=sync["apply_shift"])


def _process(entry: ManifestEntry, split: str) -> dict:
    """Process one source and persist its tar, then its done record; returns the record."""
    paths: Paths = _WORKER["paths"]
    result = process_source(entry, _WORKER["cfg"], split, paths.work, _WORKER["sync"])
    record = result.record()
    for sample in result.samples:
        sample.pop("_seconds", None)
    if result.samples:
        write_source_tar(result.samples, paths.source_tar(entry.id))
    write_json_atomic(record, paths.done_record(entry.id))  # last: its presence means "finished"
    return record


# --- driver side -------------------------------------------------------------

def load_record(paths: Paths, source_id: str) -> dict | None:
    path = paths.done_record(source_id)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def process_part(cfg: dict) -> dict:
    """Process this run's part of the manifest and write its shards; returns the part record."""
    paths = Paths(cfg["out_dir"]).make()
    entries = read_manifest(cfg["manifest"])
    speaker_splits = assign_splits((e.speaker_id for e in entries), cfg["shards"]["val_fraction"],
                                   cfg["shards"]["test_fraction"], cfg["shards"]["seed"])
    index, count = parse_part(cfg.get("part"))
    mine = select_part(entries, cfg.get("part"))
    todo = [e for e in mine if load_record(paths, e.id) is None]
    sync_path, sync_record = resolve_sync_expert(cfg["sync"]["ckpt"])  # once, before the workers start
    cfg = {**cfg, "sync": {**cfg["sync"], "ckpt": sync_path}}
    log.info("part %d/%d: %d sources, %d already done, %d to process with %d workers",
             index, count, len(mine), len(mine) - len(todo), len(todo), cfg["workers"])
    if todo:
        _run_pool(todo, speaker_splits, cfg, paths)
    records = [load_record(paths, e.id) for e in mine]
    tars = [paths.source_tar(e.id) for e, r in zip(mine, records) if r and r["kept"]]
    infos = write_shards(tars, paths.shards, part=index, max_samples=cfg["shards"]["max_samples"],
                         max_megabytes=cfg["shards"]["max_megabytes"], progress=cfg.get("progress", True))
    part = {
        "part": index, "count": count, "sources": [e.id for e in mine],
        "shards": [vars(i) for i in infos],
        "dropped": [d for r in records for d in r["dropped"]],
        "kept_sources": sum(1 for r in records if r["kept"]),
        "timings": dict(sum((Counter(r["timings"]) for r in records), Counter())),
        "frames": sum(r["frames"] for r in records),
        "quality": {k: q for r in records for k, q in r.get("quality", {}).items()},
        "speaker_splits": speaker_splits,
        "sync": sync_record,
    }
    write_json_atomic(part, paths.part_record(index, count))
    return part


def _run_pool(todo: list[ManifestEntry], speaker_splits: dict, cfg: dict, paths: Paths) -> None:
    workers = max(1, int(cfg["workers"]))
    progress = tqdm(total=len(todo), desc="sources", unit="src", disable=not cfg.get("progress", True))
    counts: Counter = Counter()
    if workers == 1:
        _init_worker(cfg, str(paths.out), threads=max(1, os.cpu_count() or 1))
        outcomes = (_process(e, speaker_splits[e.speaker_id]) for e in todo)
        for record in outcomes:
            _advance(progress, counts, record)
    else:
        ctx = multiprocessing.get_context("spawn")  # mediapipe and torch threads do not survive fork
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(cfg, str(paths.out), 1)) as pool:
            futures = [pool.submit(_process, e, speaker_splits[e.speaker_id]) for e in todo]
            for future in as_completed(futures):
                _advance(progress, counts, future.result())
    progress.close()


def _advance(progress, counts: Counter, record: dict) -> None:
    counts["clips"] += len(record["kept"])
    counts["dropped"] += len(record["dropped"])
    progress.set_postfix(clips=counts["clips"], dropped=counts["dropped"], refresh=False)
    progress.update(1)


def merge_parts(cfg: dict) -> dict:
    """Combine all part records into ``index.json`` and ``dropped.jsonl``."""
    paths = Paths(cfg["out_dir"])
    _, count = parse_part(cfg.get("part"))
    records = sorted(paths.parts.glob("part-*-of-*.json"))
    counts = {json.loads(p.read_text())["count"] for p in records}
    if not records:
        raise FileNotFoundError(f"no part records under {paths.parts}; run the parts first")
    if len(counts) != 1:
        raise ValueError(f"{paths.parts}: part records from different splits of the manifest {sorted(counts)}; "
                         "delete the stale ones")
    count = counts.pop()
    parts = [json.loads(paths.part_record(i, count).read_text()) if paths.part_record(i, count).is_file() else None
             for i in range(count)]
    missing = [i for i, p in enumerate(parts) if p is None]
    if missing:
        raise FileNotFoundError(f"parts {missing} of {count} have not finished (no record under {paths.parts})")
    infos = [ShardInfo(**s) for p in parts for s in p["shards"]]
    drops = [d for p in parts for d in p["dropped"]]
    write_jsonl_atomic(({"id": d["id"], "stage": d["stage"], "reason": d["reason"], "detail": d.get("detail", "")}
                        for d in drops), paths.out / "dropped.jsonl")
    n_sources = sum(len(p["sources"]) for p in parts)
    kept = sum(p["kept_sources"] for p in parts)
    timings = dict(sum((Counter(p["timings"]) for p in parts), Counter()))
    clips = {k: q for p in parts for k, q in sorted(p.get("quality", {}).items())}
    index = build_index(infos, parts[0]["speaker_splits"], drops,
                        {"total": n_sources, "kept": kept, "dropped": n_sources - kept},
                        {"pipeline_version": PIPELINE_VERSION, "parts": count,
                         "stage_seconds": {k: round(v, 3) for k, v in timings.items()},
                         "source_frames": sum(p["frames"] for p in parts),
                         "quality": quality_summary(clips, cfg.get("quality"), cfg["align"]["size"]), "clips": clips,
                         "phonemes": dict(sorted(Counter(q.get("phonemes", "unknown") for q in clips.values()).items())),
                         "sync": merged_sync_record(parts),
                         "align": {"size": cfg["align"]["size"], "template": cfg["align"].get("template", "mesh")}})
    write_index(index, paths.out)
    return index


def merged_sync_record(parts: list[dict]) -> dict:
    """index.json's ``sync``: checked only when every part was; the first part's expert and reason otherwise."""
    records = [p.get("sync") or {"checked": False, "ckpt": None, "reason": "part record without a sync entry"}
               for p in parts]
    unchecked = [r for r in records if not r["checked"]]
    return dict(unchecked[0] if unchecked else records[0], parts_checked=len(records) - len(unchecked))


def quality_summary(clips: dict[str, dict], thresholds: dict | None, size: int) -> dict:
    """index.json's ``quality``: the thresholds as applied to the ``size`` px crop (``max_upscale`` resolved
    from its default when unset) and min / median / max of each measure over kept clips."""
    import numpy as np

    from data_prep.workflow.quality import QualityThresholds

    measures = sorted({m for q in clips.values() for m, v in q.items() if isinstance(v, (int, float))})
    stats = {}
    for m in measures:
        values = np.array([q[m] for q in clips.values() if isinstance(q.get(m), (int, float))], np.float64)
        stats[m] = {"min": round(float(values.min()), 4), "median": round(float(np.median(values)), 4),
                    "max": round(float(values.max()), 4)}
    return {"thresholds": QualityThresholds.from_config(thresholds).applied(size), "kept_clips": stats}


def summary_table(index: dict) -> str:
    """A human summary: samples per split and drops per stage/reason."""
    lines = ["split   samples   minutes  shards  speakers", "-----   -------   -------  ------  --------"]
    for split, info in index["splits"].items():
        lines.append(f"{split:<7} {info['samples']:>7}   {info['seconds'] / 60:>7.2f}  {len(info['shards']):>6}  "
                     f"{len(info['speakers']):>8}")
    src = index["sources"]
    lines.append(f"sources: {src['total']} total, {src['kept']} with clips, {src['dropped']} without")
    sync = index.get("sync", {})
    if not sync.get("checked", True):
        lines.append(f"WARNING: {sync_not_checked(sync.get('reason', 'no expert'))}")
    phonemes = index.get("phonemes") or {}
    if phonemes:
        without = {k: n for k, n in phonemes.items() if k != "ok"}
        lines.append(f"phonemes: {phonemes.get('ok', 0)} of {sum(phonemes.values())} clips aligned"
                     + (" (without: " + ", ".join(f"{k} {n}" for k, n in without.items()) + ")" if without else ""))
    if index["drops"]["total"]:
        lines.append("dropped (stage / reason: count):")
        for stage, reasons in sorted(index["drops"]["by_stage"].items()):
            for reason, n in sorted(reasons.items()):
                lines.append(f"  {stage:<10} {reason:<22} {n}")
    return "\n".join(lines)


def run(cfg: dict) -> dict | None:
    """The whole prep job as ``lipsync-prep`` runs it; returns the index when one was written."""
    if cfg.get("merge_only"):
        return merge_parts(cfg)
    part = process_part(cfg)
    if part["count"] == 1:
        return merge_parts(cfg)
    log.info("part %d/%d done; run with merge_only=true once every part has finished", part["part"], part["count"])
    return None
