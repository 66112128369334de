"""The sampling pipeline: trained UNet + VAE + audio encoder + an inference scheduler -> generated aligned faces.

The diffusers separation: the models are plain modules, the scheduler is a
separate object built from the training schedule's betas
(:meth:`NoiseSchedule.sampler`), and this pipeline composes them. Given
aligned faces, reference faces and per-frame audio tokens it runs the
sampler (DDIM by default) with classifier-free guidance
``eps = eps_uncond + g (eps_audio - eps_uncond)``; the unconditional branch
feeds zero audio tokens, exactly what ``audio_dropout`` trained. Frames are
processed ``chunk_frames`` at a time, so memory does not grow with the audio;
the initial noise of each frame is drawn from a per-frame seed, so the result
does not depend on how frames are chunked (for the 2D model).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from data_prep.mouth_mask import MouthRegion, mouth_mask
from lipsync_train.networks.audio_encoder import AudioEncoder
from lipsync_train.networks.noise_schedule import NoiseSchedule
from lipsync_train.networks.unet_checkpoint import load_unet_parts, spec_pixel_mask
from lipsync_train.networks.vae import FrozenVAE

log = logging.getLogger(__name__)


def guided(uncond: torch.Tensor, cond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance: 1 -> the audio-conditioned prediction, 0 -> the unconditional one."""
    return uncond + guidance_scale * (cond - uncond)


class LipSyncPipeline:
    """Generate the mouth region of aligned faces for given audio tokens."""

    def __init__(self, net: nn.Module, vae: FrozenVAE, audio_encoder: AudioEncoder,
                 schedule: NoiseSchedule, image_size: int, region: MouthRegion | None = None,
                 sampler: str = "ddim", device: str = "cpu", pixel_mask: np.ndarray | None = None,
                 defaults: dict[str, Any] | None = None):
        self.net, self.vae, self.audio_encoder = net.eval().to(device), vae.eval().to(device), audio_encoder.to(device)
        self.schedule, self.sampler_name, self.device = schedule, sampler, device
        self.image_size, self.region = image_size, region or MouthRegion()
        pixels = mouth_mask(image_size, self.region) if pixel_mask is None else pixel_mask
        self.pixel_mask = torch.as_tensor(pixels, dtype=torch.float32)[None, None].to(device)  # (1, 1, S, S), 1 = new
        self.latent_mask = net.net_mask(self.pixel_mask, vae.downsample).to(device)  # (1, 1, h, w), the net's convention
        self.defaults = dict(defaults or {})  # inference settings the model was made for (num_steps, guidance_scale)

    @property
    def face_template(self) -> str:
        """The face crop the model was trained on (``data_prep.face_align`` templates): LatentSync's converted
        weights say ``latentsync``; checkpoints without the field were trained on this project's ``mesh``."""
        return self.defaults.get("face_template", "mesh")

    @classmethod
    def from_checkpoint(cls, path: str | Path, use_ema: bool = True, sampler: str = "ddim",
                        device: str = "cpu") -> "LipSyncPipeline":
        """Rebuild every module from a UNet checkpoint (``lipsync-train experiment=unet_*`` or
        ``lipsync-convert-weights``; no pretrained paths needed)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt={str(path)!r}: no such checkpoint file")
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # a 5 GB UNet is not read twice
        if "lipsync_unet" not in ckpt:
            raise KeyError(f"{path}: no 'lipsync_unet' field; not a checkpoint of the diffusion UNet "
                           f"(lipsync-train experiment=unet_* or lipsync-convert-weights)")
        spec, state = ckpt["lipsync_unet"], ckpt["state_dict"]
        prefix = "ema_net." if use_ema and spec.get("ema") else "net."
        net, vae, encoder, schedule = load_unet_parts(spec, state, prefix)
        log.info("loaded %s (%s weights)", path, prefix.rstrip("."))
        return cls(net, vae, encoder, schedule, spec["image_size"], MouthRegion(**spec["mask_region"]), sampler,
                   device, pixel_mask=spec_pixel_mask(spec), defaults=spec.get("defaults"))

    def _to_unit(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.to(self.device).float() / 127.5 - 1.0  # uint8 (n, 3, S, S) -> [-1, 1]

    @torch.no_grad()
    def denoise(self, faces: torch.Tensor, references: torch.Tensor, tokens: torch.Tensor, noise: torch.Tensor,
                num_steps: int, guidance_scale: float) -> torch.Tensor:
        """One chunk: uint8 faces / references (n, 3, S, S), tokens (n, K, D), noise (n, C, h, w) -> uint8 faces."""
        n = len(faces)
        pixels = self._to_unit(faces)
        masked = self.vae.encode(pixels * (1 - self.pixel_mask))
        reference = self.vae.encode(self._to_unit(references))
        mask = self.latent_mask.expand(n, -1, -1, -1)
        tokens = tokens.to(self.device, masked.dtype)
        cfg = guidance_scale != 1.0
        if cfg:  # one batch: [unconditional; conditional]
            masked2, reference2, mask2 = torch.cat([masked] * 2), torch.cat([reference] * 2), torch.cat([mask] * 2)
            tokens2 = torch.cat([torch.zeros_like(tokens), tokens])
        sampler = self.schedule.sampler(self.sampler_name)
        sampler.set_timesteps(num_steps, device=self.device)
        latents = noise.to(self.device) * sampler.init_noise_sigma
        for t in sampler.timesteps:
            x = sampler.scale_model_input(latents, t)
            if cfg:
                steps = t.expand(2 * n)
                pred = self.net(torch.cat([x] * 2), mask2, masked2, reference2, steps, tokens2, num_frames=n)
                pred = guided(*pred.chunk(2), guidance_scale)
            else:
                pred = self.net(x, mask, masked, reference, t.expand(n), tokens, num_frames=n)
            latents = sampler.step(pred, t, latents).prev_sample
        out = self.vae.decode(latents)  # (n, 3, S, S) in [-1, 1]
        out = out * self.pixel_mask + pixels * (1 - self.pixel_mask)  # outside the mouth: the input, exactly
        return ((out.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()

    def frame_noise(self, frame_ids: range, seed: int) -> torch.Tensor:
        """Initial noise (n, C, h, w), one generator per output frame: chunking-independent, reproducible."""
        h = self.image_size // self.vae.downsample
        return torch.stack([torch.randn(self.vae.latent_channels, h, h,
                                        generator=torch.Generator().manual_seed(seed * 1_000_003 + i))
                            for i in frame_ids])

    def generate(self, faces: torch.Tensor, references: torch.Tensor, tokens: torch.Tensor, num_steps: int = 20,
                 guidance_scale: float = 1.5, chunk_frames: int = 16, seed: int = 0, first_frame: int = 0,
                 progress: Any = None) -> torch.Tensor:
        """uint8 (T, 3, S, S) faces and references, tokens (T, K, D) -> (T, 3, S, S) uint8, ``chunk_frames`` at a time."""
        if not len(faces) == len(references) == len(tokens):
            raise ValueError(f"generate: {len(faces)} faces, {len(references)} references, {len(tokens)} token rows")
        out = []
        for s in range(0, len(faces), chunk_frames):
            e = min(s + chunk_frames, len(faces))
            noise = self.frame_noise(range(first_frame + s, first_frame + e), seed)
            out.append(self.denoise(faces[s:e], references[s:e], tokens[s:e], noise, num_steps, guidance_scale))
            if progress is not None:
                progress.update(e - s)
        return torch.cat(out)
