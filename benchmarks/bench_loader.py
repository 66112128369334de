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

Four rows, so that the speed-up is not read as one thing: the naive loader at full
decode scale (LatentSync's way), the naive loader at the shard stream's reduced DCT
scale, the shard stream with one window per decoded clip (like for like with the
row above: same windows per clip, same decode scale, one mel per window), and the
shard stream with ``--windows-per-clip`` windows (the amortised row: one mel and one
clip read per that many windows). Prints which shards ran, samples per second per
worker for each row and the ratios.
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


def naive_samples(paths: list[str], spec: WindowSpec, n: int, min_shift: int, seed: int = 0, reduce: int = 1):
    """Yield n pairs, opening and seeking into a random clip for every sample (JPEG decoded at 1/``reduce``)."""
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
        video = prepare_frames(schema.decode_frames(mjpeg, offsets, start, start + spec.n_frames, reduce), spec)
        a = audio_window(feats, spec.audio_kind, audio_start, spec.n_frames)
        yield video, a


def clip_frame_size(path: str) -> int:
    """Height of the first clip's frames in a shard (the frame size the JPEG stream stores)."""
    with tarfile.open(path) as tar:
        members = {m.name.split(".", 1)[1]: m for m in tar.getmembers() if m.isfile()}
        mjpeg = tar.extractfile(members[schema.FRAMES]).read()
        index = tar.extractfile(members[schema.FRAME_INDEX]).read()
    return schema.decode_frames(mjpeg, index, 0, 1).shape[1]


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
    clip_size = clip_frame_size(paths[0])
    reduce = max([r for r in (1, 2, 4, 8) if clip_size // r >= spec.image_size] or [1])  # as the stream picks it

    def stream_rate(windows_per_clip: int) -> float:
        stream = SyncPairStream(paths, spec, args.batch_size, n_batches + 1, windows_per_clip, 3, 0.0, 64, 0)
        it = iter(stream)
        next(it)  # warm-up batch (imports, first tar open)
        t0 = time.perf_counter()
        got = sum(len(b["key"]) for b in it)
        return got / (time.perf_counter() - t0)

    def naive_rate(scale: int) -> float:
        naive = naive_samples(paths, spec, args.samples + args.batch_size, 3, reduce=scale)
        for _ in range(args.batch_size):
            next(naive)
        t0 = time.perf_counter()
        got = sum(1 for _ in naive)
        return got / (time.perf_counter() - t0)

    source = f"fake shards written by tests/helpers/fake_shards.py ({args.fake} px)" if args.fake else "lipsync-prep"
    print(f"shards: {args.shards} ({source}; {len(paths)} train shards, {clip_size} px clips, "
          f"{spec.image_size} px training faces, {args.samples} timed samples per row)")
    rows = [("naive seeking, full-scale decode, 1 window/clip", naive_rate(1)),
            (f"naive seeking, 1/{reduce}-scale decode, 1 window/clip", naive_rate(reduce)),
            (f"shard stream, 1/{reduce}-scale decode, 1 window/clip", stream_rate(1)),
            (f"shard stream, 1/{reduce}-scale decode, {args.windows_per_clip} windows/clip",
             stream_rate(args.windows_per_clip))]
    base, like = rows[0][1], rows[1][1]
    for name, rate in rows:
        print(f"{name:<52s} {rate:8.1f} samples/s per worker  {rate / base:5.1f}x naive  "
              f"{rate / like:5.1f}x naive at the same scale")
    if args.fake:
        shutil.rmtree(args.shards)


if __name__ == "__main__":
    main()
