"""LatentSync's 3-D UNet behind this project's denoiser interface, so its weights train and sample here.

The pipeline and the diffusion module call every denoiser as
``net(noisy, mask, masked, reference, timesteps, audio_tokens, num_frames=F)``
with frames flattened to ``(B*F, C, h, w)`` and one timestep per frame. This
wrapper concatenates the four inputs in LatentSync's channel order (noisy 4,
mask 1, masked 4, reference 4), folds them into the ``(B, 13, F, h, w)`` clip
its motion modules need, feeds the audio tokens ``(B*F, 50, 384)`` in ``(b f)``
order as LatentSync's pipeline does, and unfolds the prediction. Nothing else
is changed: ``.unet`` holds LatentSync's parameter names exactly
(:mod:`lipsync_train.networks.latentsync_unet`), so a converted checkpoint's
``net.unet.*`` tensors are LatentSync's own.

LatentSync's mask channel is the *keep* mask (1 outside the mouth) at latent
size by nearest-neighbour resizing; :meth:`net_mask` makes it from this
project's pixel mask (1 = regenerate), so the same pixel mask drives both
kinds of denoiser.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lipsync_train.networks.latentsync_unet import LatentSyncUNetConfig, from_latentsync_config
from lipsync_train.networks.unet import assemble_unet_input


class LatentSyncDenoiser(nn.Module):
    """``(B*F, C, h, w)`` frames in, the same out, through LatentSync's ``UNet3DConditionModel``."""

    def __init__(self, unet: dict[str, Any], gradient_checkpointing: bool = False):
        super().__init__()
        self.unet = from_latentsync_config(dict(unet))
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.latent_channels = self.unet.config.out_channels
        self.init_kwargs = {"unet": _plain_unet_config(self.unet.config)}

    def enable_gradient_checkpointing(self) -> None:
        self.unet.enable_gradient_checkpointing()

    @staticmethod
    def net_mask(pixel_mask: torch.Tensor, downsample: int) -> torch.Tensor:
        """(1, 1, S, S) pixel mask, 1 = regenerate -> LatentSync's mask channel (1, 1, h, w): 1 = keep, nearest."""
        size = pixel_mask.shape[-1] // downsample
        return F.interpolate(1.0 - pixel_mask.float(), size=(size, size))

    def forward(self, noisy: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor, reference: torch.Tensor,
                timesteps: torch.Tensor, audio_tokens: torch.Tensor | None, num_frames: int = 1) -> torch.Tensor:
        """Latents (N, 4, h, w) x3 + mask (N, 1, h, w), timesteps (N,), audio (N, 50, D) -> (N, 4, h, w).

        ``N = B x num_frames``, the frames of a clip adjacent; every frame of a clip shares its timestep.
        """
        x = assemble_unet_input(noisy, mask, masked, reference)  # (N, 13, h, w)
        n = len(x)
        if n % num_frames:
            raise ValueError(f"LatentSync denoiser: {n} frames do not split into clips of num_frames={num_frames}")
        b = n // num_frames
        clips = x.unflatten(0, (b, num_frames)).permute(0, 2, 1, 3, 4)  # (B, 13, F, h, w)
        t = torch.as_tensor(timesteps, device=x.device)
        t = t.reshape(b, num_frames)[:, 0] if t.numel() == n else t  # one timestep per clip
        tokens = None if audio_tokens is None else audio_tokens.to(x.dtype)
        out = self.unet(clips, t, encoder_hidden_states=tokens)  # (B, 4, F, h, w)
        return out.permute(0, 2, 1, 3, 4).flatten(0, 1)


def _plain_unet_config(config: LatentSyncUNetConfig) -> dict[str, Any]:
    """The dataclass config -> plain values (lists, not tuples) for checkpoints loaded with weights_only=True."""
    from dataclasses import asdict

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
