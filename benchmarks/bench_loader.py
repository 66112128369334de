"""Loader throughput: our shard stream vs a naive per-sample clip reader, side by side in one run.

    .venv/bin/python benchmarks/bench_loader.py --shards DIR          # a lipsync-prep output dir
    .venv/bin/python benchmarks/bench_loader.py --fake 256            # writes 256 px fake shards first

Both loaders run in this one process (one "worker"), produce the same pairs (16
frames resized to 64 px lower-half faces + the log-mel window, half positives,
half shifted negatives) and are timed over the same number of samples:

- **shard stream** (``SyncPairStream``): reads each tar sequentially, decodes a clip's
  audio features once and feeds ``windows_per_clip`` windows from it, decoding only
  the frames the windows need, at reduced JPEG scale when the target is smaller;
- **naive**: what LatentSync's datasets do with decord for every sample: pick a clip,
  open its file, seek to the clip, read it, compute its audio features, decode a
  random 16-frame window at full size and resize it. (It gets an index of member
  offsets for free, so it pays no tar scan.)

Prints samples per second per worker for both and the ratio.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path


from data_prep import schema
from data_prep.audio_features import audio_window, clip_features, frames_covered
from lipsync_train.data.datamodule import SyncPairStream
from data_prep.shard_index import read_split
from data_prep.window_spec import WindowSpec, prepare_frames


def naive_samples(paths: list[str], spec: WindowSpec, n: int, min_shift: int, seed: int = 0):
    """Yield n pairs, opening and seeking into a random clip for every sample."""
    members: list[tuple[str, dict[str, tarfile.TarInfo]]] = []
    for path in paths:  # one-time index: clip key -> {schema key: TarInfo}
        with tarfile.open(path) as tar:
            clips: dict[str, dict[str, tarfile.TarInfo]] = {}
            for info in tar.getmembers():
                key, ext = info.name.split(".", 1)
                clips.setdefault(key, {})[ext] = info
        members += [(path, m) for m in clips.values()]
    rng = random.Random(seed)
    for _ in range(n):
        path, m = rng.choice(members)
        with open(path, "rb") as f:
            def read(ext: str) -> bytes:
                f.seek(m[ext].offset_data)
                return f.read(m[ext].size)
            mjpeg, offsets = read(schema.FRAMES), schema.decode_npy(read(schema.FRAME_INDEX))
            audio, _ = schema.decode_wav(read(schema.AUDIO))
        feats = clip_features(audio, spec.audio_kind, spec.n_audio_bins)
        n_frames = min(len(offsets) - 1, frames_covered(feats.shape[1], spec.audio_kind, spec.n_frames))
        start = rng.randrange(n_frames - spec.n_frames + 1)
        audio_start = start if rng.random() < 0.5 else rng.choice(
            [s for s in range(n_frames - spec.n_frames + 1) if abs(s - start) >= min_shift])
        video = prepare_frames(schema.decode_frames(mjpeg, offsets, start, start + spec.n_frames), spec)
        a = audio_window(feats, spec.audio_kind, audio_start, spec.n_frames)
        yield video, a


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", help="lipsync-prep output directory")
    parser.add_argument("--fake", type=int, default=0, help="write fake shards of this frame size instead")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--windows-per-clip", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.helpers.fake_shards import write_fake_shards

        args.shards = str(write_fake_shards(tempfile.mkdtemp(prefix="bench_shards_"), {"train": 4, "val": 1},
                                            clips_per_shard=6, n_frames=125, size=args.fake))
    if not args.shards:
        parser.error("give --shards DIR or --fake SIZE")
    paths = read_split(args.shards, "train").paths
    spec = WindowSpec(n_frames=16, image_size=args.image_size)
    n_batches = args.samples // args.batch_size

    stream = SyncPairStream(paths, spec, args.batch_size, n_batches + 1, args.windows_per_clip, 3, 0.0, 64, 0)
    it = iter(stream)
    next(it)  # warm-up batch (imports, first tar open)
    t0 = time.perf_counter()
    got = sum(len(b["key"]) for b in it)
    ours = got / (time.perf_counter() - t0)

    naive = naive_samples(paths, spec, args.samples + args.batch_size, 3)
    for _ in range(args.batch_size):
        next(naive)
    t0 = time.perf_counter()
    got_naive = sum(1 for _ in naive)
    theirs = got_naive / (time.perf_counter() - t0)

    print(f"shards: {args.shards} ({len(paths)} train shards)")
    print(f"shard stream : {ours:8.1f} samples/s per worker ({got} samples, {args.windows_per_clip} windows/clip)")
    print(f"naive seeking: {theirs:8.1f} samples/s per worker ({got_naive} samples)")
    print(f"ratio        : {ours / theirs:8.1f}x")
    if args.fake:
        shutil.rmtree(args.shards)


if __name__ == "__main__":
    main()
