"""The UNet checkpoint's self-description: what rebuilds the denoiser, VAE, audio encoder, schedule and mask.

A ``lipsync-train experiment=unet_*`` checkpoint and a converted LatentSync one
(``lipsync-convert-weights``) carry the same entry, ``checkpoint["lipsync_unet"]``,
so inference (:class:`~lipsync_train.inference.pipeline.LipSyncPipeline`),
fine-tuning (``model.init_from``) and evaluation rebuild every part without
pretrained paths. :func:`unet_spec` writes it, :func:`build_unet_parts` reads it:

- ``net`` / ``audio_encoder``: ``{"target", "kwargs"}`` (``specs.py``); checkpoints
  written before the entry existed carry ``unet`` / ``temporal`` / ``temporal_heads``
  (our 2-D UNet) and ``whisper`` / ``audio_window`` instead, and still load;
- ``vae``, ``vae_scaling_factor``: the AutoencoderKL config;
- ``noise_schedule``: :class:`NoiseSchedule` arguments;
- ``image_size``, ``mask_region`` and optionally ``pixel_mask``, the (S, S) float
  mask the model was trained with (1 = regenerate; LatentSync's is an image, not a box);
- ``ema``: whether ``ema_net.*`` weights exist; ``defaults``: inference settings
  the model was made for (LatentSync: 20 DDIM steps, guidance 1.5, 16-frame chunks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from data_prep.mouth_mask import MouthRegion, mouth_mask
from lipsync_train.networks.audio_encoder import build_audio_encoder
from lipsync_train.networks.noise_schedule import NoiseSchedule
from lipsync_train.networks.specs import build_from_spec, plain_config, spec_of
from lipsync_train.networks.vae import FrozenVAE

SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type",
                 "rescale_betas_zero_snr", "steps_offset")


def unet_spec(net: nn.Module, vae: FrozenVAE, audio_encoder: nn.Module, schedule: NoiseSchedule, image_size: int,
              region: MouthRegion, pixel_mask: np.ndarray | torch.Tensor | None = None, ema: bool = False,
              defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``lipsync_unet`` checkpoint entry (plain values and tensors only: loads with weights_only=True)."""
    spec = {"net": spec_of(net), "vae": plain_config(vae.vae.config), "vae_scaling_factor": vae.scaling_factor,
            "audio_encoder": spec_of(audio_encoder),
            "noise_schedule": {k: schedule.config[k] for k in SCHEDULE_KEYS if k in schedule.config},
            "mask_region": dict(region.__dict__), "image_size": int(image_size), "ema": bool(ema)}
    if pixel_mask is not None:
        spec["pixel_mask"] = torch.as_tensor(pixel_mask, dtype=torch.float32).reshape(image_size, image_size)
    if defaults:
        spec["defaults"] = dict(defaults)
    return spec


def load_unet_parts(spec: dict[str, Any], state: dict[str, torch.Tensor],
                    net_prefix: str = "net.") -> tuple[nn.Module, FrozenVAE, nn.Module, NoiseSchedule]:
    """Build the parts on the meta device and take the checkpoint's tensors as their own (``assign``): a 1.3 B
    parameter UNet starts in seconds instead of being randomly initialised first; every key is checked (strict).
    A part with state the checkpoint does not hold (non-persistent buffers) is built normally instead."""
    parts = []
    for part, prefix in (("net", net_prefix), ("vae", "vae."), ("audio_encoder", "audio_encoder.")):
        part_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        with torch.device("meta"):
            module = build_unet_part(spec, part)
        module.load_state_dict(part_state, assign=True)
        if any(t.is_meta for t in (*module.parameters(), *module.buffers())):
            module = build_unet_part(spec, part)
            module.load_state_dict(part_state)
        parts.append(module)
    return (*parts, NoiseSchedule(**spec["noise_schedule"]))


def build_unet_part(spec: dict[str, Any], part: str) -> nn.Module:
    """One of ``net``, ``vae``, ``audio_encoder``, randomly initialised until its state dict is loaded."""
    if part == "vae":
        return FrozenVAE(config=spec["vae"], scaling_factor=spec["vae_scaling_factor"])
    if part == "audio_encoder":
        return build_audio_encoder(spec.get("audio_encoder") or spec)
    if "net" in spec:
        return build_from_spec(spec["net"], "lipsync_unet.net")
    from lipsync_train.networks.unet import LipSyncUNet  # before the net entry: our 2-D UNet

    return LipSyncUNet(spec["unet"], temporal=spec["temporal"], temporal_heads=spec["temporal_heads"])


def build_unet_parts(spec: dict[str, Any]) -> tuple[nn.Module, FrozenVAE, nn.Module, NoiseSchedule]:
    """-> (denoiser, VAE, audio encoder, noise schedule), randomly initialised until the state dict is loaded."""
    return (*(build_unet_part(spec, part) for part in ("net", "vae", "audio_encoder")),
            NoiseSchedule(**spec["noise_schedule"]))


def spec_pixel_mask(spec: dict[str, Any]) -> np.ndarray:
    """The (S, S) float32 pixel mask the checkpoint's model was trained with (1 = regenerate)."""
    if spec.get("pixel_mask") is not None:
        return torch.as_tensor(spec["pixel_mask"]).float().numpy()
    return mouth_mask(spec["image_size"], MouthRegion(**spec["mask_region"]))
