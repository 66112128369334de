"""The latent diffusion losses: the denoising regression and the pixel L1 on the decoded mouth.

- :func:`denoising_loss`: MSE between the UNet's prediction and the schedule's
  target (the noise for ``epsilon`` prediction, ``v`` for ``v_prediction``),
  in float32 whatever the training precision; optionally weighted, e.g. by
  :func:`mouth_weight`, which weighs the latents of the mouth region more
  (outside it the masked frame's latent already gives the answer away).
- :func:`clip_noise`: the noise added to a clip's latents; with ``alpha > 0``
  LatentSync's mixed noise (after "Preserve Your Own Correlation", arXiv
  2305.10474): a share ``alpha^2 / (1 + alpha^2)`` of the variance common to
  all frames of the clip, the rest independent per frame, unit variance overall.
- :func:`masked_pixel_l1`: mean absolute error of the VAE-decoded one-step
  estimate against the target frames inside the mouth mask only, normalised by
  the mask's area (so the weight does not depend on the mask size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def denoising_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 4, h, w) prediction and target -> scalar MSE in float32; ``weight`` (broadcast to them) gives a
    weighted mean (sum of weighted squares / sum of weights), so a weight of 1 everywhere is the plain MSE."""
    if weight is None:
        return F.mse_loss(pred.float(), target.float())
    weight = weight.float().expand_as(pred)
    return ((pred.float() - target.float()) ** 2 * weight).sum() / weight.sum()


def mouth_weight(pixel_mask: torch.Tensor, latent_size: int, inside: float) -> torch.Tensor:
    """(1, 1, S, S) pixel mask (1 = regenerate) -> (1, 1, h, h) loss weights: ``inside`` on latents wholly
    inside the mouth region, 1 outside, the share covered in between (area resizing)."""
    share = F.interpolate(pixel_mask.float(), size=(latent_size, latent_size), mode="area")
    return 1.0 + (inside - 1.0) * share


def masked_pixel_l1(estimate: torch.Tensor, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) decoded estimate and target in [-1, 1], (1, 1, S, S) mask -> mean L1 inside the mask."""
    diff = (estimate.float() - pixels).abs() * mask
    return diff.sum() / (mask.sum() * 3 * len(diff))


def clip_noise(shape: torch.Size | tuple[int, ...], n_frames: int, alpha: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """(B*T, C, h, w) noise for B clips of ``n_frames`` frames; ``alpha`` = 0: independent per frame."""
    independent = torch.randn(shape, generator=generator)
    if alpha <= 0:
        return independent
    shared = torch.randn((shape[0] // n_frames, 1, *shape[1:]), generator=generator)  # (B, 1, C, h, w)
    shared = shared.expand(-1, n_frames, *shape[1:]).reshape(shape)
    return independent * (1 / (1 + alpha ** 2)) ** 0.5 + shared * (alpha ** 2 / (1 + alpha ** 2)) ** 0.5
