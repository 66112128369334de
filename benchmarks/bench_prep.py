"""Dataset-pipeline throughput: clips per minute and per-stage frames per second.

    .venv/bin/python benchmarks/bench_prep.py [--speakers 4] [--videos 3] [--workers 1 2]

Generates the embedded Arabic talking-face data, runs ``lipsync-prep`` on it
once per worker count (same data, side by side in one run), and prints a
markdown table from the run's ``index.json``: wall time, clips per minute,
and for each stage the frames it handled per second of its own CPU time
(stage time summed over workers, so the figure is per core).
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--keep", help="keep outputs in this folder")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_prep_"))
    data = root / "data"
    subprocess.run([BIN / "lipsync-make-data", f"out_dir={data}", f"n_speakers={args.speakers}",
                    f"videos_per_speaker={args.videos}", "n_broken=0"], check=True)
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
        rows.append((workers, wall, clips, index))
    print(f"\n{args.speakers * args.videos} generated sources; {rows[0][3]['source_frames']} source frames at 25 fps\n")
    print("| workers | wall s | clips | clips/min |")
    print("|---|---|---|---|")
    for workers, wall, clips, _ in rows:
        print(f"| {workers} | {wall:.1f} | {clips} | {60 * clips / wall:.1f} |")
    index = rows[0][3]
    frames = index["source_frames"]
    print("\n| stage (1 worker) | seconds | frames/s per core |")
    print("|---|---|---|")
    for stage, seconds in index["stage_seconds"].items():
        print(f"| {stage} | {seconds:.2f} | {frames / seconds:.0f} |" if seconds else f"| {stage} | 0 | - |")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
