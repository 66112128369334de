"""Our window format -> a SyncNet's native inputs: the optional ``window_video`` / ``window_audio`` hooks.

Every consumer of a SyncNet (the sync scorer, the sync loss, the SyncNet Lightning module) holds
windows in one format: video ``(B, T, 3, h, w)`` float 0..255 as
:func:`data_prep.window_spec.prepare_frames` cuts them (resized, cropped, channel-ordered), audio
``(B, F, L)`` as :func:`data_prep.audio_features.audio_window` cuts it. A net whose own layout differs
(LatentSync's StableSyncNet wants ``(B, 48, h, w)`` stacked frames in [-1, 1] and ``(B, 1, 80, 52)`` mel)
says so with ``window_video(video)`` / ``window_audio(audio)``; absent hooks mean identity. These
helpers are the one place the hooks are applied, so no consumer special-cases a net.
"""

from __future__ import annotations

import torch
from torch import nn


def native_video(net: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, h, w) float 0..255 window -> what ``net.embed_video`` takes."""
    hook = getattr(net, "window_video", None)
    return video if hook is None else hook(video)


def native_audio(net: nn.Module, audio: torch.Tensor) -> torch.Tensor:
    """(B, F, L) audio window -> what ``net.embed_audio`` takes."""
    hook = getattr(net, "window_audio", None)
    return audio if hook is None else hook(audio)


def embed_windows(net: nn.Module, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows in our format -> ``(audio_emb, video_emb)``, each ``(B, D)`` (audio first, as the modules always did)."""
    a = net.embed_audio(native_audio(net, audio))
    return a, net.embed_video(native_video(net, video))
