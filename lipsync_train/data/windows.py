"""Turn decoded shard samples into SyncNet training pairs (video window, audio window, label).

A :class:`ClipWindows` wraps one shard sample: it computes the clip's audio
features once and decodes / resizes only the frames a window asks for (and
caches them), so one clip feeds several windows for the price of one read.
:func:`sample_train_pairs` draws positives (audio and video from the same
start frame) and negatives (audio from a start at least ``min_shift`` frames
away in the same clip, or from another recent clip), half and half.
:func:`fixed_val_pairs` draws the same pairs every time, seeded by the sample
key, and adds the audio context around each window for the offset metric.
Audio windows and contexts are cut by :mod:`data_prep.audio_features` for the
spec's feature kind (100 Hz mel / MFCC or LatentSync's 80 Hz mel).
"""

from __future__ import annotations

import logging
import random
import zlib
from collections import deque
from typing import Any, Iterable, Iterator

import numpy as np

from data_prep import schema
from data_prep.window_spec import WindowSpec, prepare_frames
from data_prep.audio_features import audio_context, audio_window, clip_features, context_steps, frames_covered

log = logging.getLogger(__name__)

OTHER_CLIP = 10_000  # ``audio_shift`` of a negative whose audio comes from another clip


class ClipWindows:
    """One shard sample, decoded lazily: audio features for the whole clip, frames on demand."""

    def __init__(self, sample: dict[str, Any], spec: WindowSpec):
        self.key = sample["__key__"]
        self.spec = spec
        missing = [k for k in (schema.FRAMES, schema.FRAME_INDEX, schema.AUDIO) if k not in sample]
        if missing:
            raise KeyError(f"shard sample {self.key!r} ({sample.get('__url__', '?')}) lacks keys {missing}")
        self._mjpeg = sample[schema.FRAMES]
        self._offsets = schema.decode_npy(sample[schema.FRAME_INDEX])
        audio, rate = schema.decode_wav(sample[schema.AUDIO])
        if rate != schema.SAMPLE_RATE:
            raise ValueError(f"shard sample {self.key!r}: audio at {rate} Hz, expected {schema.SAMPLE_RATE}")
        self.features = clip_features(audio, spec.audio_kind, spec.n_audio_bins)  # (F, steps)
        self.n_frames = min(len(self._offsets) - 1,
                            frames_covered(self.features.shape[1], spec.audio_kind, spec.n_frames))
        size = schema.ClipMeta.from_json(sample[schema.META]).size if schema.META in sample else spec.image_size
        self._reduce = max([r for r in (1, 2, 4, 8) if size // r >= spec.image_size] or [1])
        self._cache: dict[int, np.ndarray] = {}

    @property
    def n_starts(self) -> int:
        """How many window start frames fit in the clip."""
        return max(0, self.n_frames - self.spec.n_frames + 1)

    def video(self, start: int) -> np.ndarray:
        """-> (T, 3, h, w) uint8 frames start .. start + T, decoding only frames not seen yet."""
        stop = start + self.spec.n_frames
        todo = [t for t in range(start, stop) if t not in self._cache]
        if todo:  # the frames still missing form runs; decode each run in one call
            run_start = todo[0]
            for i, t in enumerate(todo):
                if i + 1 == len(todo) or todo[i + 1] != t + 1:
                    frames = schema.decode_frames(self._mjpeg, self._offsets, run_start, t + 1, reduce=self._reduce)
                    for j, frame in enumerate(prepare_frames(frames, self.spec)):
                        self._cache[run_start + j] = frame
                    if i + 1 < len(todo):
                        run_start = todo[i + 1]
        return np.stack([self._cache[t] for t in range(start, stop)])

    def audio(self, start: int) -> np.ndarray:
        """-> (F, L) float32 audio window of frames start .. start + T (L = 4T, or 52 for 16 frames of latentsync_mel)."""
        return audio_window(self.features, self.spec.audio_kind, start, self.spec.n_frames)

    def audio_context(self, start: int, max_offset: int) -> tuple[np.ndarray, np.ndarray] | None:
        """-> (context (F, C), offsets (2 max_offset + 1,)) of :func:`data_prep.audio_features.audio_context`
        (for the 100 Hz kinds: the features of frames start - max_offset .. start + T + max_offset), or None
        near the clip edges."""
        if start < max_offset or start + self.spec.n_frames + max_offset > self.n_frames:
            return None
        return audio_context(self.features, self.spec.audio_kind, start, self.spec.n_frames, max_offset)


def _shifted_start(start: int, n_starts: int, min_shift: int, rng: random.Random) -> int | None:
    choices = [s for s in range(n_starts) if abs(s - start) >= min_shift]
    return rng.choice(choices) if choices else None


def sample_train_pairs(samples: Iterable[dict[str, Any]], spec: WindowSpec, windows_per_clip: int, min_shift: int,
                       p_other_clip: float, rng: random.Random, max_unusable: int = 1000) -> Iterator[dict[str, Any]]:
    """Shard samples -> pair dicts ``{key, video (T,3,h,w) uint8, audio (F,L) float32, label, audio_shift}``.

    ``audio_shift`` is the audio start minus the video start in frames (0 for positives,
    ``OTHER_CLIP`` when the audio is another clip's); kept for tests and data audits.
    """
    recent: deque[ClipWindows] = deque(maxlen=8)  # other clips for cross-clip negatives
    unusable = 0
    for sample in samples:
        clip = ClipWindows(sample, spec)
        if clip.n_starts <= min_shift:
            unusable += 1
            if unusable > max_unusable:
                raise ValueError(f"{unusable} clips in a row are shorter than {spec.n_frames + min_shift} frames "
                                 f"(last: {clip.key!r}); lower data.min_shift / the window length or fix the shards")
            continue
        unusable = 0
        for _ in range(windows_per_clip):
            start = rng.randrange(clip.n_starts)
            label = rng.random() < 0.5
            audio, shift = clip.audio(start), 0
            if not label:
                other = rng.random() < p_other_clip and recent
                shifted = None if other else _shifted_start(start, clip.n_starts, min_shift, rng)
                if shifted is None:
                    donor = rng.choice(recent) if recent else None
                    if donor is None:  # first clip of the stream and no room to shift: make a positive
                        label = True
                    else:
                        audio, shift = donor.audio(rng.randrange(donor.n_starts)), OTHER_CLIP
                else:
                    audio, shift = clip.audio(shifted), shifted - start
            yield {"key": clip.key, "video": clip.video(start), "audio": audio, "label": float(label),
                   "audio_shift": shift}
        clip._cache.clear()  # keep only the audio features of recent clips
        recent.append(clip)


def fixed_val_pairs(samples: Iterable[dict[str, Any]], spec: WindowSpec, windows_per_clip: int, min_shift: int,
                    max_offset: int, seed: int, max_pairs: int) -> list[dict[str, Any]]:
    """The validation set: the same pairs on every call, seeded by each sample key (shift negatives only).

    Each pair also holds ``audio_context`` / ``audio_context_offsets`` (zeros and ``has_context=False``
    near the clip edges) for ``val/offset_acc``.
    """
    pairs: list[dict[str, Any]] = []
    ctx_steps = context_steps(spec.audio_kind, spec.n_frames, max_offset)
    for sample in samples:
        clip = ClipWindows(sample, spec)
        if clip.n_starts <= min_shift:
            continue
        rng = random.Random(zlib.crc32(f"{seed}/{clip.key}".encode()))
        inner = range(max_offset, clip.n_frames - spec.n_frames - max_offset + 1)
        for _ in range(windows_per_clip):
            start = rng.choice(inner) if len(inner) else rng.randrange(clip.n_starts)
            label = len(pairs) % 2 == 0  # alternate, so the set is balanced
            shifted = start if label else _shifted_start(start, clip.n_starts, min_shift, rng)
            if shifted is None:
                continue
            found = clip.audio_context(start, max_offset)
            ctx, offsets = found if found is not None else (
                np.zeros((clip.features.shape[0], ctx_steps), np.float32), np.zeros(2 * max_offset + 1, np.int64))
            pairs.append({
                "key": clip.key, "video": clip.video(start), "audio": clip.audio(shifted), "label": float(label),
                "audio_context": ctx, "audio_context_offsets": offsets, "has_context": found is not None,
            })
        if len(pairs) >= max_pairs:
            break
    return pairs[:max_pairs]
