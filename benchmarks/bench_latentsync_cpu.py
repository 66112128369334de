"""Full-size LatentSync 1.5 inference on CPU through ``lipsync-infer``: wall time and peak memory (issue 15).

    .venv/bin/python benchmarks/bench_latentsync_cpu.py [--seconds 2] [--steps 2] [--keep DIR]

Writes a checkpoint in the layout ``lipsync-convert-weights latentsync ... resolution=256`` produces, at full
size with random weights (LatentSync's stage-2 UNet with motion modules from conf/latentsync/unet.yaml, the SD
VAE's shapes, Whisper-tiny's; every UNet tensor perturbed), renders one generated talking-face video, and runs
``lipsync-infer`` on it with ``--seconds`` of its audio and ``--steps`` DDIM steps (LatentSync's other defaults:
guidance 1.5, so two UNet passes per step, and 16-frame chunks). Prints the command's wall time, the
``lip-sync`` part of it as ``lipsync-infer`` logs it, its peak RSS and the output's video and audio lengths.
The conversion itself is not timed here (the random sources would come from LatentSync's own code).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.unet_helpers import write_latentsync_checkpoint  # noqa: E402

BIN = Path(sys.executable).parent


def run(cmd: list, log: Path) -> float:
    """Run ``cmd`` with its output in ``log``; -> wall seconds. Stops with the log's tail on failure."""
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        sys.exit(f"{cmd[0]} failed ({code}):\n{log.read_text()[-3000:]}")
    return time.perf_counter() - start


def media_seconds(path: Path) -> dict[str, float]:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "json",
                            str(path)], capture_output=True, text=True, check=True)
    return {s["codec_type"]: float(s["duration"]) for s in json.loads(probe.stdout)["streams"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="audio to lip-sync")
    parser.add_argument("--steps", type=int, default=2, help="DDIM steps")
    parser.add_argument("--keep", help="keep the checkpoint, video and logs in this folder")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_latentsync_cpu_"))
    root.mkdir(parents=True, exist_ok=True)

    ckpt = root / "unet.ckpt"
    start = time.perf_counter()
    if not ckpt.is_file():
        write_latentsync_checkpoint(ckpt, 256, full_size=True)
    print(f"checkpoint: {ckpt} ({ckpt.stat().st_size / 2**30:.1f} GiB, {time.perf_counter() - start:.0f} s)")

    data = root / "data"
    if not (data / "manifest.jsonl").is_file():
        run([BIN / "lipsync-make-data", f"out_dir={data}", "n_speakers=1", "videos_per_speaker=1", "n_broken=0"],
            root / "make_data.log")
    video = Path(json.loads((data / "manifest.jsonl").read_text().splitlines()[0])["url"].removeprefix("file://"))
    audio = root / "speech.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-t", str(args.seconds), "-vn", "-ac", "1",
                    "-ar", "16000", str(audio)], check=True)

    out = root / "dubbed.mp4"
    log = root / "infer.log"
    wall = run([BIN / "lipsync-infer", f"video={video}", f"audio={audio}", f"ckpt={ckpt}", f"out={out}",
                f"num_steps={args.steps}"], log)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child so far
    logged = re.search(r"(\d+) frames \((\d+) without a face, passed through\) in ([\d.]+) s", log.read_text())
    lengths = media_seconds(out)
    print(f"\nlipsync-infer, LatentSync 1.5 size (256 px), random weights, {args.seconds:g} s of audio, "
          f"{args.steps} DDIM steps, guidance 1.5, 16-frame chunks")
    print("| wall (command) | lip-sync (logged) | frames | peak RSS | video | audio |")
    print("|---|---|---|---|---|---|")
    print(f"| {wall / 60:.1f} min | {float(logged[3]) / 60:.1f} min | {logged[1]} | "
          f"{peak / 2**20:.1f} GiB | {lengths.get('video', 0):.2f} s | {lengths.get('audio', 0):.2f} s |")


if __name__ == "__main__":
    main()
