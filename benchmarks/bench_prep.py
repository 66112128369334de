"""Dataset-pipeline throughput: clips per minute and per-stage frames per second.

    .venv/bin/python benchmarks/bench_prep.py [--speakers 4] [--videos 3] [--workers 1 2]
    .venv/bin/python benchmarks/bench_prep.py --realistic --speakers 2 --videos 0 --workers 1   # the web-video case

Generates the embedded Arabic talking-face data (``--realistic``: plus the four
portrait 1080x1920 HEVC sources of ``lipsync-make-data realistic=true``), runs
``lipsync-prep`` on it once per worker count (same data, side by side in one
run), and prints markdown tables from the first run's ``index.json``: wall time
and clips per minute per worker count; per stage its seconds (``stage_seconds``:
the stage's wall time summed over sources, and over workers when there are
several) and the source frames handled per second of that time (wall time of
a stage that may use more than one core, e.g. ffmpeg's, not CPU time per
core); the quality measures' min / median / max over kept clips; and every
dropped clip with its reason and detail.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from data_prep.shard_index import read_index

BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers", type=int, default=4)
    parser.add_argument("--videos", type=int, default=3, help="videos per speaker")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--realistic", action="store_true",
                        help="add the portrait HEVC web-video sources (lipsync-make-data realistic=true)")
    parser.add_argument("--keep", help="keep outputs in this folder")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_prep_"))
    data = root / "data"
    subprocess.run([BIN / "lipsync-make-data", f"out_dir={data}", f"n_speakers={args.speakers}",
                    f"videos_per_speaker={args.videos}", "n_broken=0", f"realistic={str(args.realistic).lower()}"],
                   check=True)
    rows = []
    for workers in args.workers:
        out = root / f"prep_w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([BIN / "lipsync-prep", f"manifest={data / 'manifest.jsonl'}", f"out_dir={out}",
                        f"workers={workers}", "progress=false", "sync.ckpt=null",  # generated: in sync
                        f"download.cache_dir={out / 'cache'}"], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        index = read_index(out)
        clips = sum(s["samples"] for s in index["splits"].values())
        rows.append((workers, wall, clips, index, out))
    print(f"\n{rows[0][3]['sources']['total']} generated sources; {rows[0][3]['source_frames']} source frames "
          "at 25 fps\n")
    print("| workers | wall s | clips | clips/min |")
    print("|---|---|---|---|")
    for workers, wall, clips, _, _ in rows:
        print(f"| {workers} | {wall:.1f} | {clips} | {60 * clips / wall:.1f} |")
    index = rows[0][3]
    frames = index["source_frames"]
    print(f"\n| stage ({rows[0][0]} worker{'s' if rows[0][0] > 1 else ''}) | seconds | frames/s of stage time |")
    print("|---|---|---|")
    for stage, seconds in index["stage_seconds"].items():
        print(f"| {stage} | {seconds:.2f} | {frames / seconds:.0f} |" if seconds else f"| {stage} | 0 | - |")
    kept = (index.get("quality") or {}).get("kept_clips") or {}
    if kept:
        print("\n| quality measure (kept clips) | min | median | max |")
        print("|---|---|---|---|")
        for measure, stats in kept.items():
            print(f"| {measure} | {stats['min']:g} | {stats['median']:g} | {stats['max']:g} |")
    dropped = [json.loads(line) for line in (rows[0][4] / "dropped.jsonl").read_text().splitlines() if line.strip()]
    if dropped:
        print("\n| dropped | stage | reason | detail |")
        print("|---|---|---|---|")
        for d in dropped:
            detail = d["detail"].splitlines()[0] if d["detail"] else ""
            print(f"| {d['id']} | {d['stage']} | {d['reason']} | {detail} |")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
