"""Write a tiny shard directory with the exact ``lipsync-prep`` layout, for training tests.

``DIR/shards/{split}-p000-{i:06d}.tar`` + ``DIR/index.json``, samples made by
``data_prep.schema.encode_sample``. Each clip is a cartoon face whose mouth (a
dark ellipse in the lower half) opens with the envelope of an amplitude-
modulated harmonic signal, and the envelope is smoothed noise with a
correlation time of about two frames: audio and mouth are in sync frame by
frame, and the same audio shifted by a few frames no longer matches, so a
SyncNet can really learn sync from it. Splits use disjoint speakers (face
colour, size, mouth width and voice pitch vary by speaker).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import cv2
import numpy as np
import webdataset as wds

from data_prep import schema


def mouth_envelope(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(T,) in [0, 1]: smoothed noise with pauses, one value per video frame."""
    x = rng.random(n_frames + 8)
    kernel = np.exp(-0.5 * (np.arange(-4, 5) / 1.2) ** 2)
    x = np.convolve(x, kernel / kernel.sum(), mode="same")[4:-4]
    x = (x - x.min()) / (np.ptp(x) + 1e-9)
    return np.clip((x - 0.2) / 0.8, 0.0, 1.0)


def talking_audio(env: np.ndarray, f0: float, rng: np.random.Generator) -> np.ndarray:
    """(T,) envelope -> (T * 640,) int16: harmonics of f0 plus breath noise, amplitude-modulated."""
    n = len(env) * schema.SAMPLES_PER_FRAME
    t = np.arange(n) / schema.SAMPLE_RATE
    centres = (np.arange(len(env)) + 0.5) * schema.SAMPLES_PER_FRAME
    amp = np.interp(np.arange(n), centres, env)
    voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.random() * 6.28) / k for k in range(1, 6))
    signal = amp * (0.5 * voice + 0.3 * rng.standard_normal(n)) + 0.003 * rng.standard_normal(n)
    return (np.clip(signal * 0.4, -1, 1) * 32767).astype(np.int16)


def face_frames(env: np.ndarray, size: int, speaker: dict, rng: np.random.Generator) -> np.ndarray:
    """(T,) envelope -> (T, size, size, 3) uint8 RGB faces whose mouth height follows the envelope."""
    frames = np.empty((len(env), size, size, 3), np.uint8)
    s = size / 64.0
    for i, e in enumerate(env):
        img = np.full((size, size, 3), speaker["background"], np.uint8)
        dx, dy = rng.integers(-1, 2, 2)
        cx, cy = size // 2 + int(dx), size // 2 + int(dy)
        cv2.ellipse(img, (cx, cy), (int(22 * s * speaker["scale"]), int(28 * s * speaker["scale"])), 0, 0, 360,
                    speaker["skin"], -1)
        for ex in (-9, 9):
            cv2.circle(img, (cx + int(ex * s), cy - int(7 * s)), max(1, int(2.5 * s)), (40, 30, 30), -1)
        mouth_h = max(1, int(round((0.5 + 7.5 * e) * s)))
        cv2.ellipse(img, (cx, cy + int(14 * s)), (int(speaker["mouth_w"] * s), mouth_h), 0, 0, 360, (70, 10, 20), -1)
        noise = rng.integers(-6, 7, img.shape)
        frames[i] = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return frames


def fake_clip(source_id: str, clip_index: int, split: str, speaker_id: str, n_frames: int, size: int,
              rng: np.random.Generator) -> schema.Clip:
    srng = np.random.default_rng(zlib.crc32(speaker_id.encode()))
    speaker = {"background": tuple(int(v) for v in srng.integers(60, 200, 3)),
               "skin": tuple(int(v) for v in srng.integers(120, 240, 3)),
               "scale": float(srng.uniform(0.85, 1.1)), "mouth_w": float(srng.uniform(6, 10)),
               "f0": float(srng.uniform(100, 240))}
    env = mouth_envelope(n_frames, rng)
    meta = schema.ClipMeta(source_id=source_id, clip_index=clip_index, speaker=speaker_id, split=split,
                           start=0.0, end=n_frames / schema.FPS, source_start=0.0, n_frames=n_frames, size=size,
                           text="مرحبا", pipeline_version="fake-shards")
    return schema.Clip(frames=face_frames(env, size, speaker, rng), audio=talking_audio(env, speaker["f0"], rng),
                       landmarks=np.zeros((n_frames, 478, 2), np.float16), meta=meta)


def write_fake_shards(root: str | Path, shards: dict[str, int] | None = None, clips_per_shard: int = 3,
                      n_frames: int = 60, size: int = 64, seed: int = 0) -> Path:
    """Write ``root/shards/*.tar`` and ``root/index.json``; ``shards`` maps split -> shard count."""
    root = Path(root)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    shards = shards or {"train": 4, "val": 2, "test": 1}
    rng = np.random.default_rng(seed)
    index: dict = {"splits": {}, "schema_version": schema.SCHEMA_VERSION, "generator": "tests/fake_shards.py"}
    for split, n_shards in shards.items():
        entries = []
        for i in range(n_shards):
            name = f"{split}-p000-{i:06d}.tar"
            with wds.TarWriter(str(root / "shards" / name)) as sink:
                for c in range(clips_per_shard):
                    speaker = f"{split}-spk{(i * clips_per_shard + c) % 5}"
                    clip = fake_clip(f"{split}-src{i}", c, split, speaker, n_frames, size, rng)
                    sink.write(schema.encode_sample(clip))
            seconds = clips_per_shard * n_frames / schema.FPS
            entries.append({"name": name, "samples": clips_per_shard, "seconds": seconds})
        index["splits"][split] = {"shards": entries, "samples": n_shards * clips_per_shard,
                                  "seconds": sum(e["seconds"] for e in entries)}
    (root / "index.json").write_text(json.dumps(index, indent=2))
    return root
