"""The audio-visual sync stage: measure each clip's offset, fix it, drop bad clips.

Downloaded talking-head videos are often a few frames out of sync, and a
SyncNet (or a lip-sync model) trained on them learns the error. The stage scores
every aligned clip with the expert ``sync.ckpt`` names, by default the published
syncnet_v2 weights (:data:`SYNCNET_V2_URL`, fetched once by
:func:`data_prep.pretrained.resolve_pretrained`, or a local path, or any
``lipsync-train`` SyncNet checkpoint), loaded by the scorer that
``sync.scorer_loader`` names (by default
:func:`lipsync_train.networks.sync_scorer.load_sync_scorer`). Like LatentSync's
preprocessing (``preprocess/sync_av.py``) it drops clips whose confidence is
below ``min_confidence`` (3, ``low_sync_confidence``) or whose offset is larger
than ``max_abs_offset`` frames (6, ``out_of_sync``), and re-pairs the rest: with
offset ``k`` (syncnet_python's sign: the audio that belongs to video frame ``t``
sits at audio frame ``t - k``) it keeps video frames ``k..T`` with audio frames
``0..T-k`` (mirrored for ``k < 0``), so no silence is invented, and records the
shift. The thresholds are on syncnet_v2's confidence scale; another expert needs
its own (a cosine-distance expert's confidences are below 1).

When the expert cannot be had (``sync.ckpt=null``, or offline with the default
weights not cached) the stage is skipped loudly (:func:`sync_not_checked`,
repeated under the run's summary table and recorded in ``index.json`` as
``sync.checked: false`` with the reason) and clips are marked ``{"status": "skipped"}``.
A local path that does not exist is an error, not a skip.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from data_prep import schema
from data_prep.workflow.drops import Dropped

log = logging.getLogger(__name__)
DEFAULT_SCORER_LOADER = "lipsync_train.networks.sync_scorer.load_sync_scorer"  # named, never imported here
SYNCNET_V2_URL = "https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"  # syncnet_python's


def sync_not_checked(reason: str) -> str:
    """The loud line of a run whose clips were not sync-checked."""
    return (f"A/V SYNC NOT CHECKED ({reason}): out-of-sync uploads pass into the shards unshifted; "
            f"set sync.ckpt=FILE (syncnet_v2.model or a lipsync-train SyncNet checkpoint) to check and fix them")


def resolve_sync_expert(ckpt: str | None) -> tuple[str | None, dict]:
    """``sync.ckpt`` -> (local path or None, the ``index.json`` ``sync`` record), resolved once per run.

    A hub id or URL that cannot be fetched (offline, not cached) turns the stage off with a warning that says
    why; a local path that does not exist raises, naming the setting.
    """
    from data_prep.pretrained import PretrainedNotAvailable, resolve_pretrained

    if not ckpt:
        reason = "sync.ckpt=null"
    else:
        try:
            path = resolve_pretrained(ckpt, "sync.ckpt")
            return str(path), {"checked": True, "ckpt": str(ckpt)}
        except PretrainedNotAvailable as err:
            reason = str(err)
    log.warning(sync_not_checked(reason))
    return None, {"checked": False, "ckpt": ckpt or None, "reason": reason}


class SyncScorer(Protocol):
    def av_offset(self, frames: np.ndarray, audio: np.ndarray, max_offset: int = 15) -> tuple[int, float]: ...


@dataclass
class SyncFilter:
    scorer: SyncScorer
    min_confidence: float = 3.0
    max_abs_offset: int = 6
    search_offset: int = 15
    apply_shift: bool = True
    min_frames: int = 25

    def check(self, frames: np.ndarray, audio: np.ndarray) -> tuple[slice, slice, dict]:
        """-> (video frame slice, audio frame slice, sync meta), or raise Dropped.

        frames: (T, S, S, 3) uint8 aligned faces; audio: (T * 640,) int16.
        """
        offset, confidence = self.scorer.av_offset(frames, audio, max_offset=self.search_offset)
        meta = {"status": "ok", "offset": int(offset), "confidence": float(confidence), "applied_shift": 0}
        if confidence < self.min_confidence:
            raise Dropped("sync", "low_sync_confidence", f"confidence {confidence:.2f} < {self.min_confidence}")
        if abs(offset) > self.max_abs_offset:
            raise Dropped("sync", "out_of_sync", f"offset {offset} frames exceeds {self.max_abs_offset}")
        n = len(frames)
        if not self.apply_shift or offset == 0:
            return slice(0, n), slice(0, n), meta
        k = int(offset)
        video, audio_frames = (slice(k, n), slice(0, n - k)) if k > 0 else (slice(0, n + k), slice(-k, n))
        if n - abs(k) < self.min_frames:
            raise Dropped("sync", "too_short", f"{n - abs(k)} frames left after the {k}-frame shift")
        meta["applied_shift"] = k
        return video, audio_frames, meta


def audio_frames(audio: np.ndarray, frames: slice) -> np.ndarray:
    """The samples of video frames ``frames`` (a slice of frame indices)."""
    return audio[frames.start * schema.SAMPLES_PER_FRAME: frames.stop * schema.SAMPLES_PER_FRAME]


def make_sync_filter(ckpt: str | None, scorer_loader: str | Callable[[str], SyncScorer] = DEFAULT_SCORER_LOADER,
                     **options) -> SyncFilter | None:
    """Load the SyncNet scorer from a local checkpoint (see :func:`resolve_sync_expert`), else None (skipped).

    ``scorer_loader`` turns the checkpoint into a :class:`SyncScorer`: a callable, or its dotted name
    (``sync.scorer_loader``, by default ``lipsync_train.networks.sync_scorer.load_sync_scorer``). The
    workflow receives it instead of importing it: the scorer belongs to the training floor above.
    """
    if not ckpt:
        return None
    if isinstance(scorer_loader, str):
        from hydra.utils import get_method

        scorer_loader = get_method(scorer_loader)
    return SyncFilter(scorer=scorer_loader(ckpt), **options)
