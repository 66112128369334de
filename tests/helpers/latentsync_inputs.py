"""Inputs and tolerances of the LatentSync parity tests: the fixture folder and the integer-only generators.

The fixtures in ``tests/fixtures/latentsync/`` were written by LatentSync's own code from inputs made by
these generators (integer arithmetic only, so they are bit-identical on every platform); the fixtures
store the inputs' sha256, and the tests check it before comparing outputs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "latentsync"
SHORT_SAMPLES, SHORT_SEED = 20877, 1  # 1.305 s: not a multiple of 160, 200 or 640 samples
LONG_SAMPLES, LONG_SEED = 16000 * 31 + 333, 2  # two 30 s Whisper segments
REL_TOL = 1e-4  # max |ours - LatentSync| <= REL_TOL x std(LatentSync), float32


def _hash_u32(k: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64-style integer hash, exact on every platform (uint64 arithmetic wraps)."""
    x = k.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(32)).astype(np.int64)


def make_audio(n_samples: int, seed: int) -> np.ndarray:
    """int16 speech-like test signal: pitched triangle bursts, noise, and silent gaps (integer ops only)."""
    k = np.arange(n_samples, dtype=np.int64)
    period = 36 + (k // 1600) % 41
    phase = k % period
    tri = np.abs(phase * 4000 // period - 2000) - 1000
    env = (_hash_u32(k // 800, seed) % 13)
    noise = _hash_u32(k, seed + 1) % 1601 - 800
    x = tri * env + noise * (1 + env // 4)
    x[(k // 4000) % 6 == 4] = 0
    return np.clip(x, -32768, 32767).astype(np.int16)


def make_frames(batch: int, n_frames: int, size: int, seed: int) -> np.ndarray:
    """uint8 (B, F, 3, size, size) frames: gradients, a moving 'mouth' box and noise (integer ops only)."""
    b = np.arange(batch, dtype=np.int64)[:, None, None, None, None]
    f = np.arange(n_frames, dtype=np.int64)[None, :, None, None, None]
    c = np.arange(3, dtype=np.int64)[None, None, :, None, None]
    y = np.arange(size, dtype=np.int64)[None, None, None, :, None]
    x = np.arange(size, dtype=np.int64)[None, None, None, None, :]
    base = (x * (3 + c) + y * (5 - c) + f * 7 + b * 50) % 200
    open_h = 4 + (_hash_u32(b * 1000 + f, seed) % (size // 8))
    cy = (size * 3) // 4
    mouth = (np.abs(y - cy) < open_h) & (np.abs(x - size // 2) < size // 5)
    img = base + 40 * mouth.astype(np.int64)
    idx = ((b * n_frames + f) * 3 + c) * size * size + y * size + x
    img = img + _hash_u32(idx, seed + 7) % 16
    return np.clip(img, 0, 255).astype(np.uint8)


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def assert_close(ours, ref, what: str) -> float:
    ours = np.asarray(ours.detach().cpu() if torch.is_tensor(ours) else ours, dtype=np.float64)
    ref = np.asarray(ref.detach().cpu() if torch.is_tensor(ref) else ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs LatentSync {ref.shape}"
    diff = float(np.abs(ours - ref).max())
    std = float(ref.std())
    assert std > 0, f"{what}: degenerate reference"
    assert diff <= REL_TOL * std, f"{what}: max abs diff {diff:.3g} > {REL_TOL} x std {std:.3g}"
    return diff / std
