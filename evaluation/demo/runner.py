"""Stage bookkeeping for the demo: which stages to run, which finished ones to reuse.

Stages form one chain (data -> shards -> syncnet -> judge -> unet -> generate
-> score -> report). Each finished stage leaves ``DIR/stages/<name>.json`` with a key:
the hash of its own settings and of the record it was built on (the upstream
stage's run id). A stage is reused when its record's key still matches, so
changing ``unet.max_steps`` re-runs the UNet and everything after it, and a
stage run again alone makes the stages after it stale. A stage that runs
again after having finished is called with ``fresh=True`` (its old outputs go
first) and its old record is removed before it starts; a record is written only
when the stage returns, so a killed stage is called with ``fresh=False`` next
time and resumes (training from ``last.ckpt``; the dataset pipeline on its own).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)
STAGES = ("data", "shards", "syncnet", "judge", "unet", "generate", "score", "report")


@dataclass
class StageRecord:
    name: str
    key: str
    run_id: str
    seconds: float
    outputs: dict[str, Any] = field(default_factory=dict)


def stage_key(settings: Any, upstream: StageRecord | None) -> str:
    """Hash of a stage's settings and the run it builds on."""
    blob = json.dumps({"settings": settings, "upstream": upstream.run_id if upstream else None},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def selected_stages(stages: Any) -> list[str]:
    """``"all"`` or a list of stage names -> the names, checked."""
    if stages in (None, "all"):
        return list(STAGES)
    names = [stages] if isinstance(stages, str) else list(stages)
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ValueError(f"stages: unknown {unknown}; expected 'all' or a list of {list(STAGES)}")
    return names


class StageRunner:
    """Run the chain up to the last wanted stage, reusing finished stages whose key still matches."""

    def __init__(self, out_dir: Path, settings: dict[str, Any], rerun: list[str] | None = None):
        self.out_dir, self.settings, self.rerun = out_dir, settings, set(rerun or [])
        self.records_dir = out_dir / "stages"
        self.records_dir.mkdir(parents=True, exist_ok=True)

    def record(self, name: str) -> StageRecord | None:
        path = self.records_dir / f"{name}.json"
        if not path.is_file():
            return None
        try:
            return StageRecord(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as err:
            log.warning("%s: unreadable stage record (%s); the stage runs again", path, err)
            return None

    def run(self, functions: dict[str, Callable[[bool], dict[str, Any]]], until: str) -> dict[str, StageRecord]:
        """Run or reuse every stage up to ``until``; -> the records, in order."""
        records: dict[str, StageRecord] = {}
        upstream = None
        for name in STAGES[:STAGES.index(until) + 1]:
            key = stage_key(self.settings.get(name), upstream)
            previous = self.record(name)
            if previous is not None and previous.key == key and name not in self.rerun:
                log.info("stage %-8s reused (finished in %.0f s; %s)", name, previous.seconds,
                         self.records_dir / f"{name}.json")
                records[name] = upstream = previous
                continue
            why = "asked" if name in self.rerun else ("settings or upstream changed" if previous else "not run yet")
            log.info("stage %-8s running (%s)", name, why)
            if previous is not None:
                (self.records_dir / f"{name}.json").unlink()
            t0 = time.perf_counter()
            outputs = functions[name](previous is not None)
            rec = StageRecord(name, key, uuid.uuid4().hex[:12], round(time.perf_counter() - t0, 1), outputs)
            tmp = self.records_dir / f"{name}.json.tmp"
            tmp.write_text(json.dumps(rec.__dict__, indent=2, default=str))
            os.replace(tmp, self.records_dir / f"{name}.json")
            log.info("stage %-8s finished in %.0f s", name, rec.seconds)
            records[name] = upstream = rec
        return records


def run_command(args: list[str], log_path: Path) -> None:
    """Run one workflow's console command in a child process (its progress bars on this terminal).

    Its stderr is also kept in ``log_path``; a failure raises with the command and the log's tail.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", *args]
    log.info("$ %s", " ".join(cmd[1:]))
    with open(log_path, "wb") as fh:
        fh.write(("$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        # progress bars redraw with "\r", not newlines: pass raw chunks on as they come
        while chunk := os.read(proc.stderr.fileno(), 65536):
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
            fh.write(chunk)
        code = proc.wait()
    if code != 0:
        tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise RuntimeError(f"{' '.join(args[:1])} failed with exit code {code}; log {log_path}:\n{tail}")
