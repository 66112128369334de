"""The diffusion noise schedule: how training corrupts latents and what the UNet is asked to predict.

A thin layer over ``diffusers.DDPMScheduler`` (the training process) that adds
what training and the losses need and the scheduler does not spell out:

- :meth:`NoiseSchedule.target`: the regression target for ``prediction_type``
  ``"epsilon"`` (the noise) or ``"v_prediction"`` (``v = sqrt(a) eps - sqrt(1 - a) x0``);
- :meth:`NoiseSchedule.predict_x0`: the one-step estimate of the clean latent from a
  prediction, which the SyncNet and pixel losses decode;
- :meth:`NoiseSchedule.sampler`: an inference scheduler (DDIM by default, or any
  diffusers scheduler class name) built from the same betas, so training and
  sampling never disagree about the schedule.
"""

from __future__ import annotations

from typing import Any

import diffusers
import torch
from diffusers import DDPMScheduler

PREDICTION_TYPES = ("epsilon", "v_prediction")
SAMPLERS = {"ddim": "DDIMScheduler", "ddpm": "DDPMScheduler", "dpm": "DPMSolverMultistepScheduler",
            "euler": "EulerDiscreteScheduler", "pndm": "PNDMScheduler"}


class NoiseSchedule:
    """DDPM forward process + targets + one-step estimates (SD-1.5 defaults)."""

    def __init__(self, num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012,
                 beta_schedule: str = "scaled_linear", prediction_type: str = "epsilon",
                 rescale_betas_zero_snr: bool = False, steps_offset: int = 0):
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"model.noise_schedule.prediction_type={prediction_type!r}: expected one of "
                             f"{PREDICTION_TYPES}")
        self.scheduler = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_start=beta_start,
                                       beta_end=beta_end, beta_schedule=beta_schedule,
                                       prediction_type=prediction_type, clip_sample=False,
                                       rescale_betas_zero_snr=rescale_betas_zero_snr,
                                       steps_offset=steps_offset)  # LatentSync's DDIM uses 1
        self.prediction_type = prediction_type
        self.num_train_timesteps = num_train_timesteps

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.scheduler.config)

    def _alpha(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        a = self.scheduler.alphas_cumprod.to(like.device)[t.to(like.device)].to(like.dtype)  # (N,)
        return a.view(-1, *([1] * (like.ndim - 1)))  # (N, 1, 1, 1)

    def sample_timesteps(self, n: int, device: torch.device | str = "cpu",
                         generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, self.num_train_timesteps, (n,), device="cpu", generator=generator).to(device)

    def add_noise(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps for (N, C, h, w) latents and (N,) timesteps."""
        a = self._alpha(t, latents)
        return a.sqrt() * latents + (1 - a).sqrt() * noise

    def target(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.prediction_type == "epsilon":
            return noise
        a = self._alpha(t, latents)
        return a.sqrt() * noise - (1 - a).sqrt() * latents

    def predict_x0(self, noisy: torch.Tensor, prediction: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One-step estimate of the clean latent from x_t and the model output."""
        a = self._alpha(t, noisy)
        if self.prediction_type == "epsilon":
            return (noisy - (1 - a).sqrt() * prediction) / a.sqrt()
        return a.sqrt() * noisy - (1 - a).sqrt() * prediction

    def sampler(self, name: str = "ddim") -> Any:
        """An inference scheduler with this schedule's betas: ``ddim``, ``ddpm``, ``dpm``, ``euler``, ``pndm``
        or a diffusers class name."""
        cls_name = SAMPLERS.get(name, name)
        cls = getattr(diffusers, cls_name, None)
        if cls is None or not hasattr(cls, "from_config"):
            raise ValueError(f"sampler {name!r}: expected one of {sorted(SAMPLERS)} or a diffusers scheduler class")
        extra = {"set_alpha_to_one": False} if cls_name == "DDIMScheduler" else {}
        return cls.from_config(self.scheduler.config, **extra)
