"""The SyncNet expert's own training losses on (video window, audio window, in-sync label) pairs.

- :func:`bce_pair_loss`: our StableSyncNet objective. The cosine
  similarity becomes a logit through a learnable scale and bias (kept by the
  Lightning module and saved in the checkpoint, so :class:`~lipsync_train.losses.sync_loss.SyncNetLoss`
  can score generated frames with the expert's own calibration), then BCE.
- :func:`cosine_bce_pair_loss`: LatentSync's objective (``scripts/train_syncnet.py``, ``cosine_loss``):
  BCE directly on the cosine, which is the sync probability for a net whose embeddings end in a
  ReLU (``cosine_is_probability``); no calibration parameters.
- :func:`contrastive_pair_loss`: the original SyncNet (syncnet_v2) loss on the
  Euclidean distance, ``d^2`` for in-sync pairs and ``max(0, margin - d)^2`` for
  off-sync ones; its logit for the accuracy metrics is ``margin / 2 - d``.

All return ``(scores, loss)``: the scores feed accuracy and AUROC (logits, or for
``cosine_bce`` probabilities in [0, 1], which torchmetrics thresholds at 0.5 as they are).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_pair_loss(dist: torch.Tensor, label: torch.Tensor, logit_scale: torch.Tensor,
                  logit_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) cosine distance, (B,) float label, log-scale and bias scalars -> (logits, BCE)."""
    logits = logit_scale.exp() * (1.0 - dist) + logit_bias
    return logits, F.binary_cross_entropy_with_logits(logits.float(), label)


def cosine_bce(prob: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Mean ``torch.nn.BCELoss`` of probabilities (logs clamped at -100, as torch's), in float32.

    Written out because ``F.binary_cross_entropy`` refuses to run under CUDA autocast (bf16 training);
    the terms are torch's own, so the value is the same.
    """
    p, y = prob.float().clamp(0.0, 1.0), label.float().reshape(prob.shape)
    loss = (y - 1) * torch.log(1 - p).clamp(min=-100) - y * torch.log(p).clamp(min=-100)
    return loss.mean()


def cosine_bce_pair_loss(video_emb: torch.Tensor, audio_emb: torch.Tensor,
                         label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D), (B, D) embeddings, (B,) label -> (cosine probabilities, LatentSync's BCE on them)."""
    prob = F.cosine_similarity(video_emb.float(), audio_emb.float()).clamp(0.0, 1.0)
    return prob, cosine_bce(prob, label)


def contrastive_pair_loss(dist: torch.Tensor, label: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) Euclidean distance, (B,) float label -> (logits, contrastive loss)."""
    loss = label * dist.pow(2) + (1 - label) * F.relu(margin - dist).pow(2)
    return margin / 2 - dist, 0.5 * loss.mean()
