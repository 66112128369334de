"""What one SyncNet window looks like, and how aligned faces are prepared for it.

A :class:`WindowSpec` (frames per window, image size, crop, channel order, audio
feature kind) is set by a SyncNet's config and saved in its checkpoints, so the
training loader, the sync scorer, the sync loss and evaluation all cut windows
the same way. It lives on the shared floor because all of them read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from data_prep.audio_features import check_kind


@dataclass(frozen=True)
class WindowSpec:
    """What one training window looks like (set by the model config)."""

    n_frames: int = 16  # video frames per window (audio covers the same span)
    image_size: int = 64  # faces are resized to image_size x image_size
    crop: str = "lower_half"  # "lower_half" (mouth region) or "full"
    channel_order: str = "rgb"  # "rgb", or "bgr" for the syncnet_v2 convention
    audio_kind: str = "mel"  # "mel", "mfcc" or "latentsync_mel" (data_prep/audio_features.py)
    n_audio_bins: int = 80

    def __post_init__(self):
        if self.crop not in ("lower_half", "full"):
            raise ValueError(f"data.crop={self.crop!r}: expected 'lower_half' or 'full'")
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"data.channel_order={self.channel_order!r}: expected 'rgb' or 'bgr'")
        check_kind(self.audio_kind)


def prepare_frames(frames: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """(n, S, S, 3) uint8 RGB -> (n, 3, h, w) uint8 resized, cropped, channel-ordered as the model wants."""
    out = []
    for frame in frames:
        if frame.shape[0] != spec.image_size:
            frame = cv2.resize(frame, (spec.image_size, spec.image_size), interpolation=cv2.INTER_AREA)
        if spec.crop == "lower_half":
            frame = frame[spec.image_size // 2:]
        if spec.channel_order == "bgr":
            frame = frame[:, :, ::-1]
        out.append(frame.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out))
