"""The frozen image autoencoder: faces <-> latents (``diffusers.AutoencoderKL``).

The UNet works on latents, so every frame passes through the VAE encoder once
(and the one-step estimate through the decoder for the SyncNet and pixel
losses). :class:`FrozenVAE` loads the SD VAE from a diffusers folder or a hub
id (``pretrained``, e.g. ``stabilityai/sd-vae-ft-mse``; every tensor checked) or builds an AutoencoderKL from a config dict (tiny random
ones in tests and in the CPU recipe). Its weights never train, except in the
tiny CPU recipe, where no pretrained VAE exists: there the Lightning module may
fit it for a few hundred warm-up steps before the UNet starts (see
``unet_module.py``). Latents are scaled by the VAE's ``scaling_factor`` so
they have roughly unit variance, as the noise schedule assumes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from torch import nn

from data_prep.pretrained import resolve_pretrained

log = logging.getLogger(__name__)


class FrozenVAE(nn.Module):
    """AutoencoderKL in eval mode with frozen weights; images in [-1, 1]."""

    def __init__(self, pretrained: str | None = None, config: dict[str, Any] | None = None,
                 scaling_factor: float | None = None, sample_posterior: bool = False):
        super().__init__()
        if pretrained:  # a local diffusers folder or a hub id (stabilityai/sd-vae-ft-mse), see data_prep/pretrained.py
            path = resolve_pretrained(pretrained, "model.vae.pretrained",
                                      ["config.json", "diffusion_pytorch_model.safetensors"])
            if not (path / "config.json").is_file():
                raise FileNotFoundError(f"model.vae.pretrained={pretrained!r}: {path} is not a diffusers "
                                        f"AutoencoderKL folder (no config.json)")
            self.vae = load_vae_strict(path)
        elif config is not None:
            self.vae = AutoencoderKL(**dict(config))
        else:
            raise ValueError("model.vae: give either 'pretrained' (a local directory) or 'config' (a dict)")
        self.scaling_factor = float(scaling_factor if scaling_factor is not None else self.vae.config.scaling_factor)
        self.sample_posterior = sample_posterior
        self.downsample = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.latent_channels = int(self.vae.config.latent_channels)
        self.freeze()

    def freeze(self) -> None:
        self.vae.requires_grad_(False)
        self.vae.eval()

    def train(self, mode: bool = True) -> "FrozenVAE":  # stays in eval mode unless unfrozen
        trainable = any(p.requires_grad for p in self.vae.parameters())
        self.vae.train(mode and trainable)
        self.training = mode and trainable
        return self

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, C, H / f, W / f) scaled latents."""
        dist = self.vae.encode(images).latent_dist
        z = dist.sample() if self.sample_posterior else dist.mean
        return z * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) scaled latents -> (N, 3, h f, w f) images, roughly in [-1, 1]."""
        return self.vae.decode(latents / self.scaling_factor).sample

    def reconstruction_loss(self, images: torch.Tensor, kl_weight: float = 1e-6) -> torch.Tensor:
        """L1 + tiny KL of one encode/decode pass (only to fit a tiny VAE where no pretrained one exists)."""
        dist = self.vae.encode(images).latent_dist
        recon = self.vae.decode(dist.sample()).sample
        return (recon - images).abs().mean() + kl_weight * dist.kl().mean()


def load_vae_strict(folder: Path) -> AutoencoderKL:
    """A diffusers AutoencoderKL folder -> the model, failing on any tensor left over on either side
    (diffusers itself only warns; its loader also renames the old attention keys)."""
    vae, info = AutoencoderKL.from_pretrained(str(folder), output_loading_info=True, low_cpu_mem_usage=False)
    problems = {k: info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
                if info.get(k)}
    if problems:
        raise ValueError(f"{folder}: VAE weights do not match its config: {problems}")
    return vae
