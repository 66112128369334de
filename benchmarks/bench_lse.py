"""Benchmark LSE scoring: the fast loader (evaluation.metrics.lse_runner) against a port of the reference loop.

    .venv/bin/python benchmarks/bench_lse.py                      # 4 videos x 2 s, random syncnet_v2
    .venv/bin/python benchmarks/bench_lse.py --videos 16 --seconds 4 --weights syncnet_v2.model --device cuda

Both loaders score the same generated pre-cropped 224x224 25 fps videos in one
run, alternating reference/fast in ``--rounds`` rounds so that load from other
processes hits both alike. The reference (evaluation.reference_lse) dumps JPEGs
and a WAV with ffmpeg, reads them back, runs batches of 20 windows and loops
over windows for the distances; the fast path decodes in memory in worker
threads while the network runs on batches filled across videos. Prints
videos/min for each, the ratio, and the largest difference of any score.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    from skimage import data as skdata

    import cv2

    from data_prep.synth.render import write_mp4

    rng = np.random.default_rng(0)
    face = np.ascontiguousarray(skdata.astronaut()[0:300, 100:360])
    paths = []
    for k in range(count):
        n = int(seconds * 25)
        shifts = np.stack([6 * np.sin(np.arange(n) / 5 + k), 6 * np.cos(np.arange(n) / 7)], 1)
        frames = [cv2.warpAffine(face, np.float32([[0.8, 0, dx], [0, 0.8, dy]]), (224, 224)) for dx, dy in shifts]
        audio = rng.normal(0, 0.1, n * 640).astype(np.float32)
        paths.append(write_mp4(folder / f"clip{k:03d}.mp4", frames, (224, 224), 25, audio, 16000))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--weights", default=None, help="syncnet_v2.model; random weights when absent")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from evaluation.fast_syncnet import SyncNetRunner
    from evaluation.metrics.lse_runner import score_videos
    from evaluation.reference_lse import reference_evaluate
    from evaluation.syncnet_loader import build_syncnet_v2, load_syncnet

    torch.manual_seed(0)
    model = load_syncnet(args.weights, args.device) if args.weights else build_syncnet_v2().to(args.device)
    runner = SyncNetRunner(model, flatten=False)
    with tempfile.TemporaryDirectory(prefix="bench_lse_") as tmp:
        paths = make_videos(Path(tmp), args.videos, args.seconds)
        times = {"reference": 0.0, "fast": 0.0}
        diff = 0.0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            ref = {p.name: reference_evaluate(ReferenceOnDevice(model, args.device), p) for p in paths}
            t1 = time.perf_counter()
            fast, failed = score_videos(runner, paths, batch_size=args.batch_size, workers=args.workers,
                                        device=args.device, progress=False)
            t2 = time.perf_counter()
            times["reference"] += t1 - t0
            times["fast"] += t2 - t1
            assert not failed, failed
            for name, (offset, conf, dist) in ref.items():
                r = fast[name]
                assert r.offset == offset, (name, r.offset, offset)
                diff = max(diff, abs(r.lse_c - conf), abs(r.lse_d - dist))
    n = args.videos * args.rounds
    vpm = {k: 60.0 * n / v for k, v in times.items()}
    print(f"device={args.device} threads={torch.get_num_threads()} videos={args.videos}x{args.seconds}s "
          f"rounds={args.rounds}")
    print(f"reference: {vpm['reference']:.2f} videos/min   fast: {vpm['fast']:.2f} videos/min   "
          f"ratio: {vpm['fast'] / vpm['reference']:.2f}x   max |score difference|: {diff:.2e}")


class ReferenceOnDevice(torch.nn.Module):
    """The reference moves each batch to the device and the embeddings back, as syncnet_python does."""

    def __init__(self, model, device):
        super().__init__()
        self.model, self.device = model, device

    def forward_lip(self, x):
        return self.model.forward_lip(x.to(self.device)).cpu()

    def forward_aud(self, x):
        return self.model.forward_aud(x.to(self.device)).cpu()


if __name__ == "__main__":
    main()
