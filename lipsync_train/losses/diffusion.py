"""The latent diffusion losses: the denoising regression and the pixel L1 on the decoded mouth.

- :func:`denoising_loss`: MSE between the UNet's prediction and the schedule's
  target (the noise for ``epsilon`` prediction, ``v`` for ``v_prediction``),
  in float32 whatever the training precision.
- :func:`masked_pixel_l1`: mean absolute error of the VAE-decoded one-step
  estimate against the target frames inside the mouth mask only, normalised by
  the mask's area (so the weight does not depend on the mask size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def denoising_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N, 4, h, w) prediction and target -> scalar MSE in float32."""
    return F.mse_loss(pred.float(), target.float())


def masked_pixel_l1(estimate: torch.Tensor, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) decoded estimate and target in [-1, 1], (1, 1, S, S) mask -> mean L1 inside the mask."""
    diff = (estimate.float() - pixels).abs() * mask
    return diff.sum() / (mask.sum() * 3 * len(diff))
