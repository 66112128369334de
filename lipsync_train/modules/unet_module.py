"""LightningModule that trains the audio-conditioned latent diffusion UNet.

One training step on a batch of windows (B clips x T frames, see ``unet_windows.py``):

1. encode target, mouth-masked target and reference frames with the frozen VAE;
2. read per-frame tokens from the frozen audio encoder (``networks/audio_encoder.py``); replace a clip's
   tokens by zeros with probability ``audio_dropout``, which trains the
   unconditional model classifier-free guidance needs at inference;
3. noise the target latents at one timestep per clip, predict with the UNet
   and regress the noise (``epsilon``) or ``v`` (noise schedule config),
   optionally weighing the mouth region's latents ``mouth_loss_weight`` times
   (1, LatentSync's plain MSE, by default);
4. optionally decode the one-step clean estimate with the VAE and add the
   SyncNet expert loss (``syncnet_weight``), a pixel L1 on the mouth region
   (``pixel_l1_weight``), LPIPS-VGG on the lower half (``lpips_weight``) and LatentSync's TREPA over
   frozen VideoMAE-v2 features of the whole window (``trepa_weight``, on only when ``trepa_weights`` names
   the VideoMAE-v2 checkpoint; ``losses/trepa.py``). The frozen VideoMAE-v2 (1 B parameters at ViT-g size)
   is left out of checkpoints: it is rebuilt from ``trepa_weights``.

``cache_latents`` keeps each frame's latents once the VAE is frozen (small data
only: ``modules/latent_cache.py``). ``mixed_noise_alpha > 0`` draws LatentSync's mixed noise (a share common to the
clip's frames plus an independent share, ``losses/diffusion.py``). With
``init_from`` a UNet checkpoint (ours or ``lipsync-convert-weights``'), ``net``,
``vae``, ``audio_encoder`` and ``noise_schedule`` may be null: they are rebuilt
from it, with its mask (LatentSync's fine-tuning recipe does this).

Recipes are switched by config only: stage 1 trains the whole UNet with
``syncnet_weight: 0``; stage 2 sets ``init_from`` (the stage-1 checkpoint),
``trainable_modules`` (regexes over parameter names, e.g. attention layers) and
``syncnet_weight > 0``. ``ema_decay`` keeps an EMA copy of the UNet (``ema_net``,
used by inference). ``vae_warmup_steps`` exists only for the tiny CPU recipe,
where no pretrained VAE is available: the VAE learns reconstruction for that
many steps, then freezes before the UNet starts.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any, Callable

import pytorch_lightning as pl
import torch

from torch import nn

from data_prep.mouth_mask import MouthRegion, mouth_mask
from lipsync_train.networks.audio_encoder import AudioEncoder
from lipsync_train.networks.noise_schedule import NoiseSchedule
from lipsync_train.networks.unet_checkpoint import build_unet_parts, spec_pixel_mask, unet_spec
from lipsync_train.networks.vae import FrozenVAE
from lipsync_train.data.datamodule import data_face_template
from lipsync_train.losses.diffusion import clip_noise, denoising_loss, masked_pixel_l1, mouth_weight
from lipsync_train.losses.lpips import LPIPS
from lipsync_train.losses.sync_loss import SyncNetLoss
from lipsync_train.losses.trepa import TREPALoss
from lipsync_train.modules.latent_cache import LatentCache

log = logging.getLogger(__name__)


class LipSyncDiffusionModule(pl.LightningModule):
    """UNet + frozen VAE + frozen audio encoder (+ frozen SyncNet expert) with the losses of issue 7."""

    def __init__(self, net: nn.Module | None, vae: FrozenVAE | None, audio_encoder: AudioEncoder | None,
                 noise_schedule: NoiseSchedule | None, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, syncnet_ckpt: str | None = None,
                 syncnet_weight: float = 0.0, pixel_l1_weight: float = 0.0, audio_dropout: float = 0.1,
                 trainable_modules: list[str] | None = None, ema_decay: float = 0.0, vae_warmup_steps: int = 0,
                 mask_region: dict[str, float] | None = None, image_size: int = 64, init_from: str | None = None,
                 lpips_weight: float = 0.0, lpips: dict[str, str | None] | None = None, mixed_noise_alpha: float = 0.0,
                 gradient_checkpointing: bool = False, trepa_weight: float = 0.0, trepa_weights: str | None = None,
                 trepa: dict[str, Any] | None = None, mouth_loss_weight: float = 1.0, cache_latents: bool = False,
                 cache_latents_max_frames: int = 200_000):
        super().__init__()
        self.save_hyperparameters(logger=False, ignore=["net", "vae", "audio_encoder", "noise_schedule",
                                                        "optimizer", "scheduler"])
        if not 0 <= audio_dropout < 1:
            raise ValueError(f"model.audio_dropout={audio_dropout}: expected a probability in [0, 1)")
        if syncnet_weight > 0 and not syncnet_ckpt:
            raise ValueError("model.syncnet_weight > 0 needs model.syncnet_ckpt (a SyncNet expert checkpoint)")
        init = torch.load(init_from, map_location="cpu", weights_only=True, mmap=True) if init_from else None
        init_spec = (init or {}).get("lipsync_unet")
        if None in (net, vae, audio_encoder, noise_schedule):  # parts left out: rebuilt from init_from's checkpoint
            if init_spec is None:
                raise ValueError("model.net / vae / audio_encoder / noise_schedule may be null only with "
                                 "model.init_from set to a UNet checkpoint (lipsync-train or lipsync-convert-weights)")
            built = build_unet_parts(init_spec)
            net, vae, audio_encoder, noise_schedule = (given if given is not None else b for given, b in
                                                        zip((net, vae, audio_encoder, noise_schedule), built))
            image_size = init_spec["image_size"]
            self.hparams.image_size = image_size
        self.net, self.vae, self.audio_encoder, self.schedule = net, vae, audio_encoder, noise_schedule
        if gradient_checkpointing:
            self.net.enable_gradient_checkpointing()
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.sync_loss = SyncNetLoss(syncnet_ckpt) if syncnet_ckpt else None
        self.lpips = LPIPS(**(lpips or {})) if lpips_weight > 0 else None
        self.trepa = TREPALoss(trepa_weights, **(trepa or {})) if trepa_weight > 0 and trepa_weights else None
        self.trepa_weight = trepa_weight if self.trepa is not None else 0.0
        if trepa_weight > 0 and not trepa_weights:
            log.info("TREPA off: model.trepa_weights is null (model.trepa_weight=%s not applied)", trepa_weight)
        self.region = MouthRegion(**(mask_region or {}))
        # the model's mask: LatentSync's mask image when the init checkpoint carries one, else the box
        pixels = (spec_pixel_mask(init_spec) if init_spec is not None and init_spec.get("pixel_mask") is not None
                  and mask_region is None else mouth_mask(image_size, self.region))
        self.register_buffer("pixel_mask", torch.as_tensor(pixels)[None, None], persistent=False)  # (1, 1, S, S)
        self.register_buffer("latent_mask", self.net.net_mask(self.pixel_mask, vae.downsample),
                             persistent=False)  # (1, 1, h, w), in the net's own convention
        if mouth_loss_weight <= 0:
            raise ValueError(f"model.mouth_loss_weight={mouth_loss_weight}: expected > 0 (1 = plain MSE)")
        self.register_buffer("noise_weight", None if mouth_loss_weight == 1 else mouth_weight(
            self.pixel_mask, image_size // vae.downsample, mouth_loss_weight), persistent=False)
        self.latent_cache = LatentCache(cache_latents_max_frames) if cache_latents else None
        self.inference_defaults = (init_spec or {}).get("defaults")
        if init is not None:
            self._load_weights(init, init_from)
        self._select_trainable(trainable_modules)
        self.ema_net = copy.deepcopy(self.net).requires_grad_(False) if ema_decay > 0 else None
        self.run_config: dict | None = None  # set by train.py, saved in checkpoints
        self.git_revision: str | None = None

    # --- set-up ---------------------------------------------------------------------------------------------
    def _load_weights(self, ckpt: dict[str, Any], path: str) -> None:
        """``init_from``: every ``net.*`` tensor of ours must come from the checkpoint (its EMA weights when it
        has them), and the VAE and audio encoder too when it carries them; any key left over fails."""
        state = ckpt["state_dict"]
        source = "ema_net." if any(k.startswith("ema_net.") for k in state) else "net."
        loaded = {"net." + k[len(source):]: v for k, v in state.items() if k.startswith(source)}
        for part in ("vae.", "audio_encoder."):
            loaded.update({k: v for k, v in state.items() if k.startswith(part)})
        ours = {k for k in self.state_dict() if k.split(".")[0] in ("net", "vae", "audio_encoder")}
        required = {k for k in ours if k.startswith("net.")}
        for part in ("vae.", "audio_encoder."):
            if any(k.startswith(part) for k in loaded):
                required |= {k for k in ours if k.startswith(part)}
        missing, unexpected = sorted(required - set(loaded)), sorted(set(loaded) - ours)
        if missing or unexpected:
            raise ValueError(f"model.init_from={path}: tensors left over: missing from the checkpoint {missing[:8]}"
                             f"{' ...' if len(missing) > 8 else ''}; not in the model {unexpected[:8]}"
                             f"{' ...' if len(unexpected) > 8 else ''}")
        self.load_state_dict(loaded, strict=False)
        log.info("init_from %s: %d tensors loaded (%s weights)", path, len(loaded), source.rstrip("."))

    def _select_trainable(self, patterns: list[str] | None) -> None:
        if patterns is None:
            return
        regexes = [re.compile(p) for p in patterns]
        n = 0
        for name, p in self.net.named_parameters():
            p.requires_grad_(any(r.search(name) for r in regexes))
            n += p.numel() if p.requires_grad else 0
        if n == 0:
            raise ValueError(f"model.trainable_modules={list(patterns)} matches no parameter of model.net")
        log.info("trainable UNet parameters: %.2fM (patterns %s)", n / 1e6, list(patterns))

    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.net.parameters() if p.requires_grad]
        if self.hparams.vae_warmup_steps > 0:
            params += list(self.vae.parameters())
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "step"}}

    # --- the pieces of a step --------------------------------------------------------------------------------
    def audio_tokens(self, batch: dict[str, Any], n_frames: int) -> torch.Tensor:
        """The audio encoder's tokens for the batch's windows -> (B T, K, D)."""
        return self.audio_encoder.window_tokens(batch, n_frames).flatten(0, 1)

    def encode_inputs(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Frames -> latents: target, masked target, reference (N, C, h, w), pixels (N, 3, S, S) in [-1, 1]."""
        frames = batch["video"].flatten(0, 1).float() / 127.5 - 1.0  # (N, 3, S, S)
        reference = batch["reference"].flatten(0, 1).float() / 127.5 - 1.0
        if self.latent_cache is not None and not self._in_vae_warmup() and "frame_start" in batch:
            return {"pixels": frames, **self._cached_latents(batch, frames, reference)}
        with torch.no_grad():
            latents = self.vae.encode(frames)
            masked = self.vae.encode(frames * (1 - self.pixel_mask))
            ref = self.vae.encode(reference)
        return {"pixels": frames, "latents": latents, "masked": masked, "reference": ref}

    def _cached_latents(self, batch: dict[str, Any], frames: torch.Tensor,
                        reference: torch.Tensor) -> dict[str, torch.Tensor]:
        """``model.cache_latents``: the frozen VAE's latents of each frame, encoded the first time it is seen."""
        b, t = batch["video"].shape[:2]
        cache, keys, encode = self.latent_cache, batch["key"], self.vae.encode
        return {"latents": cache.latents(encode, keys, batch["frame_start"], frames.unflatten(0, (b, t)), "frame"),
                "masked": cache.latents(encode, keys, batch["frame_start"],
                                        (frames * (1 - self.pixel_mask)).unflatten(0, (b, t)), "masked"),
                "reference": cache.latents(encode, keys, batch["reference_start"], reference.unflatten(0, (b, t)),
                                           "frame")}

    def diffusion_losses(self, batch: dict[str, Any], generator: torch.Generator | None = None,
                         dropout: float = 0.0) -> dict[str, torch.Tensor]:
        b, t = batch["video"].shape[:2]
        x = self.encode_inputs(batch)
        tokens = self.audio_tokens(batch, t)  # (N, K, D)
        if dropout > 0:
            keep = (torch.rand(b, generator=generator) >= dropout).to(tokens).repeat_interleave(t)  # (N,)
            tokens = tokens * keep[:, None, None]
        timesteps = self.schedule.sample_timesteps(b, self.device, generator).repeat_interleave(t)  # (N,)
        noise = clip_noise(x["latents"].shape, t, self.hparams.mixed_noise_alpha, generator).to(x["latents"])
        noisy = self.schedule.add_noise(x["latents"], noise, timesteps)
        mask = self.latent_mask.expand(len(noisy), -1, -1, -1)
        pred = self.net(noisy, mask, x["masked"], x["reference"], timesteps, tokens, num_frames=t)
        losses = {"noise": denoising_loss(pred, self.schedule.target(x["latents"], noise, timesteps), self.noise_weight)}
        h = self.hparams
        if h.syncnet_weight > 0 or h.pixel_l1_weight > 0 or h.lpips_weight > 0 or self.trepa_weight > 0:
            estimate = self.vae.decode(self.schedule.predict_x0(noisy, pred, timesteps))  # (N, 3, S, S)
            if h.pixel_l1_weight > 0:
                losses["pixel_l1"] = masked_pixel_l1(estimate, x["pixels"], self.pixel_mask)
            if h.lpips_weight > 0:  # LatentSync: LPIPS-VGG on the lower half of the decoded estimate
                half = estimate.shape[-2] // 2
                losses["lpips"] = self.lpips(estimate[..., half:, :].float(), x["pixels"][..., half:, :]).mean()
            if h.syncnet_weight > 0:
                losses["sync"] = self.sync_loss(estimate.unflatten(0, (b, t)), batch["sync_audio"])
            if self.trepa_weight > 0:  # LatentSync: the whole window, decoded estimate vs ground truth, as videos
                losses["trepa"] = self.trepa(estimate.unflatten(0, (b, t)), x["pixels"].unflatten(0, (b, t)))
        losses["loss"] = (losses["noise"] + h.syncnet_weight * losses.get("sync", 0.0)
                          + h.pixel_l1_weight * losses.get("pixel_l1", 0.0) + h.lpips_weight * losses.get("lpips", 0.0)
                          + self.trepa_weight * losses.get("trepa", 0.0))
        return losses

    # --- Lightning hooks -------------------------------------------------------------------------------------
    def _in_vae_warmup(self) -> bool:
        return self.global_step < self.hparams.vae_warmup_steps

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        warm = self._in_vae_warmup()
        self.vae.vae.requires_grad_(warm)
        self.vae.train(warm)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        n = len(batch["key"])
        if self._in_vae_warmup():
            # every 4th frame: neighbouring frames are near duplicates, so this is ~4x cheaper for the same fit
            images = torch.cat([batch["video"][:, ::4].flatten(0, 1), batch["reference"][:, :1].flatten(0, 1)])
            loss = self.vae.reconstruction_loss(images.float() / 127.5 - 1.0)
            self.log("train/vae_l1", loss, on_step=True, prog_bar=True, batch_size=n)
            return loss
        losses = self.diffusion_losses(batch, generator=self.step_generator(), dropout=self.hparams.audio_dropout)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=True, prog_bar=name == "loss", batch_size=n)
        return losses["loss"]

    def step_generator(self) -> torch.Generator:
        """The noise, timesteps and audio dropout of a training step, drawn from (run seed, step, rank) alone:
        a run resumed from a checkpoint draws exactly what the uninterrupted run drew (the global RNG is not
        saved in checkpoints, and data loaders draw from it when they start)."""
        seed = (torch.initial_seed() * 1_000_003 + self.global_step) * 131 + self.global_rank
        return torch.Generator().manual_seed(seed % (2 ** 63))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema_net is None or self._in_vae_warmup():
            return
        decay = self.hparams.ema_decay
        with torch.no_grad():
            for ema, live in zip(self.ema_net.parameters(), self.net.parameters()):
                ema.lerp_(live.detach(), 1.0 - decay)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        generator = torch.Generator().manual_seed(1000 + batch_idx)  # same noise and timesteps every time
        losses = self.diffusion_losses(batch, generator=generator)
        for name, value in losses.items():
            self.log(f"val/{name}", value, on_step=False, on_epoch=True, prog_bar=name == "loss",
                     batch_size=len(batch["key"]))

    def setup(self, stage: str) -> None:
        """Record the crop of the shards' faces as the model's (LatentSync's weights on other crops: a warning)."""
        defaults = dict(self.inference_defaults or {})
        template = data_face_template(getattr(self.trainer, "datamodule", None),
                                      defaults.get("face_template", "mesh"), self.hparams.init_from)
        self.inference_defaults = {**defaults, "face_template": template}

    # --- checkpoints -----------------------------------------------------------------------------------------
    def export_spec(self) -> dict[str, Any]:
        """Everything inference needs to rebuild the modules without pretrained paths (``unet_checkpoint.py``)."""
        return unet_spec(self.net, self.vae, self.audio_encoder, self.schedule, self.hparams.image_size, self.region,
                         self.pixel_mask[0, 0], ema=self.ema_net is not None, defaults=self.inference_defaults)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the frozen VideoMAE-v2 comes from model.trepa_weights, not from our checkpoints (4 GB at ViT-g in fp32)
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("trepa.")}
        checkpoint["lipsync_unet"] = self.export_spec()
        if self.run_config is not None:
            checkpoint["config"] = self.run_config
        if self.git_revision is not None:
            checkpoint["git_revision"] = self.git_revision

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resume: the frozen TREPA encoder was left out on save; this run's (from ``trepa_weights``) fills in."""
        if self.trepa is not None:
            checkpoint["state_dict"].update(self.trepa.state_dict(prefix="trepa."))
