"""LightningModule that trains a SyncNet expert on in-sync / off-sync pairs.

The network (``StableSyncNet`` or ``SyncNetV2``) is a plain module passed in by
Hydra; this module adds the loss (``lipsync_train/losses/syncnet_pair.py``), metrics and optimisation:

- ``loss="bce"``: cosine similarity mapped to a logit by a learnable scale and
  bias (two scalars kept here, not in the net, so exported nets keep the official
  key set), binary cross-entropy against the pair label;
- ``loss="contrastive"``: the original SyncNet loss on the Euclidean distance,
  ``y d^2 + (1 - y) max(margin - d, 0)^2``; the pair counts as in sync when
  ``d < margin / 2``. Used for syncnet_v2 so that LSE-D distances mean what they
  meant when the network was trained.

Metrics (``split/name``): ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``
(threshold 0.5), ``val/auc`` (ROC-AUC) and ``val/offset_acc``: the share of
validation windows for which the audio shift in -max_offset..+max_offset with the
smallest distance lies within one frame of 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

from data_prep.audio_features import STEPS_PER_FRAME
from lipsync_train.losses.syncnet_pair import bce_pair_loss, contrastive_pair_loss
from lipsync_train.networks import embedding_distance

LOSSES = ("bce", "contrastive")


class SyncNetLitModule(pl.LightningModule):
    """Train ``net`` to tell in-sync from off-sync (video window, audio window) pairs."""

    def __init__(self, net: nn.Module, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, loss: str = "bce", margin: float = 10.0,
                 max_offset: int = 15, compile: bool = False):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"model.loss={loss!r}: expected one of {LOSSES}")
        # Only plain values go into hparams, so checkpoints load with torch.load(weights_only=True).
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.net = torch.compile(net) if compile else net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.logit_bias = nn.Parameter(torch.tensor(-5.0))
        self.train_acc, self.val_acc = BinaryAccuracy(), BinaryAccuracy()
        self.val_auc, self.val_loss, self.val_offset_acc = BinaryAUROC(), MeanMetric(), MeanMetric()
        self.run_config: dict | None = None  # the resolved Hydra config, set by train.py, saved in checkpoints
        self.git_revision: str | None = None

    @property
    def sync_net(self) -> nn.Module:
        return getattr(self.net, "_orig_mod", self.net)

    def distances(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, h, w) uint8, (B, F, 4T) -> (B,) embedding distance."""
        a, v = self.net.embed_audio(audio), self.net.embed_video(video.float())
        return embedding_distance(a, v, self.sync_net.distance_kind)

    def logits_and_loss(self, dist: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.hparams.loss == "bce":
            return bce_pair_loss(dist, label, self.logit_scale, self.logit_bias)
        return contrastive_pair_loss(dist, label, self.hparams.margin)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits, loss = self.logits_and_loss(self.distances(batch["video"], batch["audio"]), batch["label"])
        self.train_acc(logits.detach(), batch["label"].long())
        self.log("train/loss", loss, on_step=True, prog_bar=True, batch_size=len(logits))
        self.log("train/acc", self.train_acc, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(logits))
        return loss

    def offset_hits(self, video: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, h, w), (B, F, 4 (T + 2m)) -> (B,) bool: argmin over 2m + 1 audio shifts within 1 of 0."""
        m, steps = self.hparams.max_offset, STEPS_PER_FRAME * self.sync_net.n_frames
        v = self.net.embed_video(video.float())  # (B, D)
        shifts = torch.stack([context[:, :, STEPS_PER_FRAME * k:STEPS_PER_FRAME * k + steps]
                              for k in range(2 * m + 1)], 1)  # (B, 2m+1, F, 4T)
        a = self.net.embed_audio(shifts.flatten(0, 1)).unflatten(0, shifts.shape[:2])  # (B, 2m+1, D)
        d = embedding_distance(a, v.unsqueeze(1).expand_as(a), self.sync_net.distance_kind)  # (B, 2m+1)
        return (d.argmin(1) - m).abs() <= 1

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits, loss = self.logits_and_loss(self.distances(batch["video"], batch["audio"]), batch["label"])
        self.val_loss(loss, weight=len(logits))
        self.val_acc(logits, batch["label"].long())
        self.val_auc(logits, batch["label"].long())
        ctx = batch["has_context"].bool()
        if ctx.any():
            self.val_offset_acc(self.offset_hits(batch["video"][ctx], batch["audio_context"][ctx]).float())
        for name, metric in (("loss", self.val_loss), ("acc", self.val_acc), ("auc", self.val_auc),
                             ("offset_acc", self.val_offset_acc)):
            self.log(f"val/{name}", metric, on_step=False, on_epoch=True, prog_bar=name != "loss",
                     batch_size=len(logits))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add what :func:`lipsync_train.networks.sync_scorer.load_sync_scorer` needs to rebuild the net (plain types only)."""
        net = self.sync_net
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        checkpoint["sync_net"] = {
            "target": f"{type(net).__module__}.{type(net).__qualname__}",
            "kwargs": dict(net.init_kwargs),
            "distance_kind": net.distance_kind,
            "window": asdict(datamodule.spec) if hasattr(datamodule, "spec") else None,
            "state_prefix": "net._orig_mod." if net is not self.net else "net.",
        }
        if self.run_config is not None:
            checkpoint["config"] = self.run_config
        if self.git_revision is not None:
            checkpoint["git_revision"] = self.git_revision
