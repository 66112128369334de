"""The SyncNet expert as a training loss for generated frames.

The expert is the frozen network trained by ``lipsync-train experiment=syncnet``
(the training core's ``StableSyncNet`` checkpoint, rebuilt through
:func:`lipsync_train.networks.sync_scorer.load_sync_scorer` with the window format it
was trained on). Generated faces (N, 3, S, S) in [-1, 1] are resized to the
expert's image size, cropped to the lower half and scored against the
window's log-mel. The loss is the expert's own training objective: with a BCE
expert the checkpoint also holds the learned logit scale and bias, so
``loss = BCE(sigmoid(exp(scale) (1 - d) + bias), in sync)``; LatentSync's form,
but calibrated by the expert itself. A Euclidean (syncnet_v2) expert gives the
mean distance.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lipsync_train.networks import embedding_distance
from lipsync_train.networks.sync_scorer import _load, load_sync_scorer

log = logging.getLogger(__name__)


class SyncNetLoss(nn.Module):
    """Frozen expert: generated frames (B, T, 3, S, S) in [-1, 1] + mel (B, F, 4T) -> scalar loss."""

    def __init__(self, ckpt_path: str | Path):
        super().__init__()
        scorer = load_sync_scorer(ckpt_path)
        self.expert, self.window = scorer.net, scorer.window
        state = _load(Path(ckpt_path)).get("state_dict", {})
        self.calibrated = "logit_scale" in state and self.expert.distance_kind == "cosine"
        self.register_buffer("logit_scale", torch.as_tensor(state.get("logit_scale", 0.0)).float())
        self.register_buffer("logit_bias", torch.as_tensor(state.get("logit_bias", 0.0)).float())
        self.expert.requires_grad_(False)
        self.expert.eval()
        log.info("SyncNet loss: %s from %s (%s)", type(self.expert).__name__, ckpt_path,
                 "calibrated BCE" if self.calibrated else "mean distance")

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

    def distance(self, frames: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """-> (B,) expert distance between generated frames and audio."""
        if frames.shape[1] != self.window.n_frames:
            raise ValueError(f"SyncNet loss: the expert reads {self.window.n_frames} frames, the UNet window has "
                             f"{frames.shape[1]}; set data.n_frames={self.window.n_frames}")
        video = self.expert_frames(frames).float()
        return embedding_distance(self.expert.embed_audio(mel.float()), self.expert.embed_video(video),
                                  self.expert.distance_kind)

    def forward(self, frames: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        d = self.distance(frames, mel)
        if self.calibrated:
            logits = self.logit_scale.exp() * (1.0 - d) + self.logit_bias
            return F.softplus(-logits).mean()  # BCE with target "in sync"
        return d.mean()
