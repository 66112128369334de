"""Benchmark: which shard frame format decodes a random 16-frame window fastest?

Training reads random 16-frame windows (SyncNet, the UNet) out of 5 s clips,
so the shard format must decode a window without decoding the whole clip.
This script builds one real aligned-face clip (125 frames, 256x256) through
the pipeline's own stages and compares, for that clip:

(a) the schema's concatenated JPEG stream + offsets index (``schema.encode_frames``, q92 and q75),
(b) H.264 mp4 with the default GOP, decord seeking to the window,
(c) all-intra H.264 mp4 (``-g 1``), decord (crf 18, and crf 8, nearer JPEG q92's PSNR),
(d) one PNG per frame.

It prints markdown tables: median window decode time and bytes per clip per
format (with ratios to the JPEG stream), and frames/s of the video stages on
the same source video. Run from the repository root::

    .venv/bin/python -m benchmarks.bench_frame_formats            # all cores
    taskset -c 0 .venv/bin/python -m benchmarks.bench_frame_formats  # one core
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from data_prep import schema
from data_prep.face_align import align_frames, estimate_affines
from data_prep.faces import smooth_landmarks, track_faces
from data_prep.workflow.normalise import normalise
from data_prep.workflow.shots import detect_shots

WINDOW = 16


def encode_mp4(frames: np.ndarray, gop: int | None, crf: int = 18) -> bytes:
    """(T, S, S, 3) RGB -> H.264 mp4 bytes (``gop=None``: x264's default keyframe interval)."""
    t, h, w, _ = frames.shape
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", str(schema.FPS), "-i", "pipe:0", "-c:v", "libx264", "-preset", "medium", "-crf", str(crf),
               "-pix_fmt", "yuv420p", *(["-g", str(gop)] if gop else []), str(out)]
        subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
        return out.read_bytes()


def decode_mp4_window(data: bytes, start: int) -> np.ndarray:
    """Open the mp4 from memory (as a shard reader would) and decode ``WINDOW`` frames from ``start``."""
    from decord import VideoReader, cpu

    reader = VideoReader(io.BytesIO(data), ctx=cpu(0), num_threads=1)
    return reader.get_batch(list(range(start, start + WINDOW))).asnumpy()


def encode_pngs(frames: np.ndarray) -> list[bytes]:
    return [cv2.imencode(".png", f[:, :, ::-1])[1].tobytes() for f in frames]


def decode_png_window(pngs: list[bytes], start: int) -> np.ndarray:
    return np.stack([cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
                     for p in pngs[start:start + WINDOW]])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def make_clip(work: Path, size: int) -> tuple[np.ndarray, list[tuple[str, int, float]]]:
    """Run the video stages on a generated 640x480 source -> (125, size, size, 3) clip, stage timings."""
    from tests.helpers.video_helpers import face_video

    import decord, mediapipe, scenedetect  # noqa: F401  (import time is not stage time)

    src = face_video(work / "source.mp4", seconds=5.0, fps=30, size=(640, 480), audio="sine")
    timings = []
    t0 = time.perf_counter()
    media = normalise(src, work / "norm")
    timings.append(("normalise (ffmpeg, 30 fps 640x480 -> 25 fps)", media.n_frames, time.perf_counter() - t0))
    t0 = time.perf_counter()
    detect_shots(media.video)
    timings.append(("detect_shots (ContentDetector, downscaled)", media.n_frames, time.perf_counter() - t0))
    t0 = time.perf_counter()
    track = track_faces(media.video)
    timings.append(("track_faces (478-pt mesh at 480 px side)", media.n_frames, time.perf_counter() - t0))
    timings.append(("  of which FaceMesh.process alone (refine, tracking)", *_mesh_only(media.video)))
    landmarks = smooth_landmarks(track.landmarks)[:125]
    t0 = time.perf_counter()
    affines = estimate_affines(landmarks, size=size)
    frames = align_frames(media.video, 0, len(affines), affines, size=size)
    timings.append((f"estimate_affines + align_frames ({size} px)", len(frames), time.perf_counter() - t0))
    return frames, timings


def _mesh_only(video: Path, max_side: int = 480) -> tuple[int, float]:
    """Frames and seconds of the face mesh alone on pre-decoded frames (landmarking speed)."""
    import mediapipe as mp
    from decord import VideoReader, cpu

    reader = VideoReader(str(video), ctx=cpu(0), num_threads=1)
    h, w = reader[0].shape[:2]
    scale = min(1.0, max_side / max(w, h))
    frames = [cv2.resize(f, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
              for f in reader.get_batch(list(range(len(reader)))).asnumpy()]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True) as mesh:
        mesh.process(frames[0])  # graph start-up is not landmarking
        t0 = time.perf_counter()
        for frame in frames:
            mesh.process(frame)
        return len(frames), time.perf_counter() - t0


def time_windows(decoders: list, n_frames: int, repeats: int, rng: np.random.Generator) -> list[float]:
    """Median milliseconds per decoder to decode a random window with ``decode(start)``.

    The decoders take turns on the same windows, so load from other processes
    on the machine skews all formats alike and the ratios stay fair.
    """
    for decode in decoders:
        decode(0)  # warm-up (imports, codec init)
    times = np.empty((repeats, len(decoders)))
    for r, start in enumerate(rng.integers(0, n_frames - WINDOW + 1, repeats)):
        for d, decode in enumerate(decoders):
            t0 = time.perf_counter()
            window = decode(int(start))
            times[r, d] = time.perf_counter() - t0
            assert len(window) == WINDOW
    return (1000 * np.median(times, axis=0)).tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200, help="random windows per format")
    parser.add_argument("--size", type=int, default=256, help="aligned face side in pixels")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as tmp:
        frames, timings = make_clip(Path(tmp), args.size)  # (125, S, S, 3)
    n = len(frames)
    mjpeg, index = schema.encode_frames(frames)
    mjpeg75, index75 = schema.encode_frames(frames, quality=75)
    offsets75 = schema.decode_npy(index75)
    offsets = schema.decode_npy(index)
    mp4_default, mp4_intra = encode_mp4(frames, None), encode_mp4(frames, 1)
    mp4_intra_hq = encode_mp4(frames, 1, crf=8)  # nearer the JPEG q92 quality (PSNR column)
    pngs = encode_pngs(frames)
    formats = [
        ("(a) JPEG stream + offsets (schema, q92)", len(mjpeg) + len(index),
         lambda s: schema.decode_frames(mjpeg, offsets, s, s + WINDOW)),
        ("(a) same at JPEG q75", len(mjpeg75) + len(index75),
         lambda s: schema.decode_frames(mjpeg75, offsets75, s, s + WINDOW)),
        ("(b) H.264 mp4, default GOP, decord", len(mp4_default),
         lambda s: decode_mp4_window(mp4_default, s)),
        ("(c) H.264 mp4, all-intra (-g 1), decord", len(mp4_intra),
         lambda s: decode_mp4_window(mp4_intra, s)),
        ("(c) same at crf 8", len(mp4_intra_hq), lambda s: decode_mp4_window(mp4_intra_hq, s)),
        ("(d) PNG per frame", sum(map(len, pngs)), lambda s: decode_png_window(pngs, s)),
    ]
    rows = []
    median_ms = time_windows([decode for _, _, decode in formats], n, args.windows, rng)
    for (name, size_bytes, decode), ms in zip(formats, median_ms):
        whole = np.concatenate([decode(s) for s in range(0, n - WINDOW + 1, WINDOW)])
        rows.append((name, ms, size_bytes, psnr(whole, frames[:len(whole)])))

    base_ms, base_bytes = rows[0][1], rows[0][2]
    print(f"\n### Random {WINDOW}-frame window decode, {n}-frame {args.size}x{args.size} aligned-face clip "
          f"(median of {args.windows})\n")
    print("| format | decode ms | x (a) | KiB / clip | x (a) | PSNR dB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ms, size_bytes, quality in rows:
        print(f"| {name} | {ms:.1f} | {ms / base_ms:.2f} | {size_bytes / 1024:.0f} | "
              f"{size_bytes / base_bytes:.2f} | {quality:.1f} |")

    print("\n### Video stages on one 5 s 640x480 30 fps source\n")
    print("| stage | frames | seconds | frames/s |")
    print("|---|---:|---:|---:|")
    for name, count, seconds in timings:
        print(f"| {name} | {count} | {seconds:.2f} | {count / seconds:.0f} |")


if __name__ == "__main__":
    main()
