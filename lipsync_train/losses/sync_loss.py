"""The SyncNet expert as a training loss for generated frames.

The expert is a frozen SyncNet checkpoint (``lipsync-train experiment=syncnet``, or LatentSync's
StableSyncNet converted to our format), rebuilt through
:func:`lipsync_train.networks.sync_scorer.load_sync_scorer` with the window format it was trained on.
Generated faces (N, 3, S, S) in [-1, 1] are resized to the expert's image size, cropped and
channel-ordered as its windows are, put on its native inputs by its window hooks
(:mod:`lipsync_train.networks.sync_windows`) and scored against the window's audio features
(``sync_audio`` of the UNet data module, of the expert's ``audio_kind``). The loss is the expert's
own training objective:

- a BCE expert of ours (the checkpoint holds the learned logit scale and bias):
  ``BCE(sigmoid(exp(scale) (1 - d) + bias), in sync)``, LatentSync's form calibrated by the expert;
- an expert whose cosine is the sync probability (``cosine_is_probability``: LatentSync's StableSyncNet):
  ``BCE(cos, 1)`` on float32 embeddings, exactly LatentSync's ``cosine_loss`` in ``train_unet.py``;
- otherwise (syncnet_v2, an uncalibrated cosine expert) the mean distance.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from data_prep.audio_features import window_steps
from lipsync_train.losses.syncnet_pair import cosine_bce
from lipsync_train.networks import embed_windows, embedding_distance
from lipsync_train.networks.sync_scorer import load_sync_scorer

log = logging.getLogger(__name__)


class SyncNetLoss(nn.Module):
    """Frozen expert: generated frames (B, T, 3, S, S) in [-1, 1] + audio windows (B, F, L) -> scalar loss."""

    def __init__(self, ckpt_path: str | Path):
        super().__init__()
        scorer = load_sync_scorer(ckpt_path)
        self.expert, self.window = scorer.net, scorer.window
        state = scorer.extra_state
        self.calibrated = "logit_scale" in state and self.expert.distance_kind == "cosine"
        self.cosine_probability = not self.calibrated and getattr(self.expert, "cosine_is_probability", False)
        self.register_buffer("logit_scale", torch.as_tensor(state.get("logit_scale", 0.0)).float())
        self.register_buffer("logit_bias", torch.as_tensor(state.get("logit_bias", 0.0)).float())
        self.expert.requires_grad_(False)
        self.expert.eval()
        log.info("SyncNet loss: %s from %s (%s)", type(self.expert).__name__, ckpt_path,
                 "calibrated BCE" if self.calibrated else "BCE on the cosine" if self.cosine_probability
                 else "mean distance")

    def train(self, mode: bool = True) -> "SyncNetLoss":  # BatchNorm statistics of the expert stay frozen
        return super().train(False)

    def expert_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, S, S) in [-1, 1] RGB -> (B, T, 3, h, w) 0..255 as the expert's window wants."""
        b, t = frames.shape[:2]
        size = self.window.image_size
        x = frames.flatten(0, 1)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        if self.window.crop == "lower_half":
            x = x[:, :, size // 2:]
        if self.window.channel_order == "bgr":
            x = x.flip(1)
        return ((x.clamp(-1, 1) + 1) * 127.5).unflatten(0, (b, t))

    def embeddings(self, frames: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (audio_emb, video_emb) of the expert, each (B, D)."""
        if frames.shape[1] != self.window.n_frames:
            raise ValueError(f"SyncNet loss: the expert reads {self.window.n_frames} frames, the UNet window has "
                             f"{frames.shape[1]}; set data.n_frames={self.window.n_frames}")
        steps = window_steps(self.window.audio_kind, self.window.n_frames)
        if audio.shape[-1] != steps:
            raise ValueError(f"SyncNet loss: the expert reads {self.window.audio_kind} windows of {steps} steps, "
                             f"sync_audio has {audio.shape[-1]}; set data.audio_kind={self.window.audio_kind}")
        return embed_windows(self.expert, self.expert_frames(frames).float(), audio.float())

    def distance(self, frames: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """-> (B,) expert distance between generated frames and audio."""
        a, v = self.embeddings(frames, audio)
        return embedding_distance(a, v, self.expert.distance_kind)

    def forward(self, frames: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        if self.cosine_probability:
            a, v = self.embeddings(frames, audio)
            return cosine_bce(F.cosine_similarity(v.float(), a.float()), torch.ones(len(v), device=v.device))
        d = self.distance(frames, audio)
        if self.calibrated:
            logits = self.logit_scale.exp() * (1.0 - d) + self.logit_bias
            return F.softplus(-logits).mean()  # BCE with target "in sync"
        return d.mean()
