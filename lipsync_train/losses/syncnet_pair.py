"""The SyncNet expert's own training losses on (video window, audio window, in-sync label) pairs.

- :func:`bce_pair_loss`: LatentSync's StableSyncNet objective. The cosine
  similarity becomes a logit through a learnable scale and bias (kept by the
  Lightning module and saved in the checkpoint, so :class:`~lipsync_train.losses.sync_loss.SyncNetLoss`
  can score generated frames with the expert's own calibration), then BCE.
- :func:`contrastive_pair_loss`: the original SyncNet (syncnet_v2) loss on the
  Euclidean distance, ``d^2`` for in-sync pairs and ``max(0, margin - d)^2`` for
  off-sync ones; its logit for the accuracy metrics is ``margin / 2 - d``.

Both return ``(logits, loss)``: the logits feed accuracy and AUROC.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_pair_loss(dist: torch.Tensor, label: torch.Tensor, logit_scale: torch.Tensor,
                  logit_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) cosine distance, (B,) float label, log-scale and bias scalars -> (logits, BCE)."""
    logits = logit_scale.exp() * (1.0 - dist) + logit_bias
    return logits, F.binary_cross_entropy_with_logits(logits.float(), label)


def contrastive_pair_loss(dist: torch.Tensor, label: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) Euclidean distance, (B,) float label -> (logits, contrastive loss)."""
    loss = label * dist.pow(2) + (1 - label) * F.relu(margin - dist).pow(2)
    return margin / 2 - dist, 0.5 * loss.mean()
