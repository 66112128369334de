"""Per-frame VAE latents kept after their first encoding, for recipes whose VAE is frozen and data small.

A UNet step encodes three stacks of frames (targets, mouth-masked targets,
references) with the VAE, and on the tiny CPU recipe that is about a fifth of
the step. The VAE is frozen once its warm-up ends, and windows are cut from a
few thousand frames, so each frame's latents are the same every time they
come back: :class:`LatentCache` keeps them, keyed by (clip key, frame index,
kind), and encodes only frames it has not seen. Windows carry their start
frames (``frame_start``, ``reference_start``, see
``lipsync_train/data/unet_windows.py``) for this.

It holds ``max_frames`` latents at most and then stops adding (a warning says
so once): memory grows with the frames seen, which suits the tiny recipe's
generated data, not a corpus (``model.cache_latents`` is off by default).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch

log = logging.getLogger(__name__)


class LatentCache:
    """(clip key, frame, kind) -> latent (C, h, w), filled on first sight."""

    def __init__(self, max_frames: int = 200_000):
        self.max_frames = max_frames
        self.store: dict[tuple[str, int, str], torch.Tensor] = {}
        self._full_warned = False

    def __len__(self) -> int:
        return len(self.store)

    def latents(self, encode: Callable[[torch.Tensor], torch.Tensor], keys: Sequence[str], starts: torch.Tensor,
                frames: torch.Tensor, kind: str) -> torch.Tensor:
        """Frames (B, T, 3, S, S) of clips ``keys`` starting at frames ``starts`` (B,) -> latents (B T, C, h, w).

        Frames not in the cache are encoded in one call; frames already there are not encoded again."""
        b, t = frames.shape[:2]
        ids = [(key, int(start) + i, kind) for key, start in zip(keys, starts.tolist()) for i in range(t)]
        todo: dict[tuple[str, int, str], int] = {}
        for n, frame_id in enumerate(ids):
            if frame_id not in self.store:
                todo.setdefault(frame_id, n)
        fresh: dict[tuple[str, int, str], torch.Tensor] = {}
        if todo:
            with torch.no_grad():
                encoded = encode(frames.flatten(0, 1)[list(todo.values())])
            fresh = {frame_id: z.clone() for frame_id, z in zip(todo, encoded)}
            room = self.max_frames - len(self.store)
            if room < len(fresh) and not self._full_warned:
                log.warning("latent cache full (%d frames, model.cache_latents_max_frames): frames beyond it are "
                            "encoded every time", self.max_frames)
                self._full_warned = True
            for frame_id in list(fresh)[:max(room, 0)]:
                self.store[frame_id] = fresh[frame_id]
        return torch.stack([self.store[i] if i in self.store else fresh[i] for i in ids])
