"""TREPA: LatentSync's temporal representation alignment loss over frozen VideoMAE-v2 features.

LatentSync's stage 2 (``trepa_loss_weight: 10``) compares the decoded one-step estimate of a training window with
the ground-truth window as *videos*, through a frozen VideoMAE-v2 ViT-g/14 (``networks/videomae_v2.py``), so the
generated clip keeps the temporal behaviour of the real one (no flicker the per-frame losses cannot see).
The maths, as in LatentSync's ``latentsync/trepa/loss.py``:

1. all frames of the window (16: the encoder's position table), whole face, RGB in [-1, 1];
2. each frame resized to 224 x 224 with bicubic interpolation (``F.interpolate``: no antialias,
   ``align_corners=False``);
3. mapped to [0, 1] and clamped there (``x / 2 + 0.5``), no mean / std normalisation;
4. one pooled feature per clip (mean over tokens, then ``fc_norm``), L2-normalised;
5. the mean squared difference of the two unit vectors (``F.mse_loss``, mean over batch and channels).

Differences that do not change the value: the target clip runs under ``no_grad`` (it needs no gradient), and the
normalisation and MSE run in float32 whatever the encoder's dtype (LatentSync keeps the encoder in float16).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lipsync_train.networks.videomae_v2 import VideoMAEv2Encoder, load_videomae_v2

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class TREPALoss(nn.Module):
    """Frozen VideoMAE-v2 + LatentSync's TREPA distance: (B, T, 3, H, W) x2 in [-1, 1] -> scalar.

    ``weights`` names an OpenGVLab checkpoint (path, URL or hub repo, ``networks/videomae_v2.py``); ``None`` builds
    a randomly initialised encoder (tests only). ``encoder`` overrides VideoMAEConfig fields of the ViT-g/14
    default (smaller test encoders); ``dtype`` is the frozen encoder's weight dtype.
    """

    def __init__(self, weights: str | None, encoder: dict[str, Any] | None = None, dtype: str = "float32",
                 gradient_checkpointing: bool = False, setting: str = "model.trepa_weights"):
        super().__init__()
        if dtype not in _DTYPES:
            raise ValueError(f"model.trepa.dtype={dtype!r}: expected one of {sorted(_DTYPES)}")
        self.encoder = (load_videomae_v2(weights, setting, encoder, gradient_checkpointing) if weights
                        else VideoMAEv2Encoder(encoder, gradient_checkpointing))
        self.encoder.to(_DTYPES[dtype]).requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "TREPALoss":  # a fixed feature network
        return super().train(False)

    def features(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) in [-1, 1] -> (B, D) float32 unit vectors."""
        b, t = video.shape[:2]
        size = self.encoder.image_size
        frames = F.interpolate(video.float().flatten(0, 1), size=(size, size), mode="bicubic")  # (B T, 3, S, S)
        frames = (frames / 2 + 0.5).clamp(0, 1).unflatten(0, (b, t))  # (B, T, 3, S, S) in [0, 1]
        dtype = next(self.encoder.parameters()).dtype
        return F.normalize(self.encoder(frames.to(dtype)).float(), p=2, dim=1)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if fake.shape != real.shape:
            raise ValueError(f"TREPA: generated {tuple(fake.shape)} and target {tuple(real.shape)} clips differ")
        with torch.no_grad():
            target = self.features(real)
        return F.mse_loss(self.features(fake), target)
