"""Small encoded clips for tests that need samples but not the video pipeline."""

import numpy as np

from data_prep import schema


def make_clip(source_id="src", clip_index=0, n_frames=30, size=32, split="train", speaker="spk", seed=0):
    rng = np.random.default_rng(seed)
    # smooth moving gradients: JPEG keeps them close to the original, unlike white noise
    yy, xx = np.mgrid[0:size, 0:size] / size
    phase = rng.uniform(0, 2 * np.pi, 3)
    t = np.arange(n_frames)[:, None, None, None] / 10.0
    frames = (127 + 100 * np.sin(2 * np.pi * (xx[..., None] + yy[..., None]) + phase + t)).astype(np.uint8)
    audio = rng.integers(-3000, 3000, n_frames * schema.SAMPLES_PER_FRAME).astype(np.int16)
    landmarks = rng.uniform(0, size, (n_frames, 478, 2)).astype(np.float32)
    meta = schema.ClipMeta(source_id=source_id, clip_index=clip_index, speaker=speaker, split=split,
                           start=0.0, end=n_frames / schema.FPS, source_start=0.0, n_frames=n_frames, size=size,
                           affines=[[[1, 0, 0], [0, 1, 0]]] * n_frames, text="نص")
    return schema.Clip(frames, audio, landmarks, meta)
