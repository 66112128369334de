"""LightningModule that trains a SyncNet expert on in-sync / off-sync pairs.

The network (``StableSyncNet``, ``SyncNetV2`` or LatentSync's ``LatentSyncSyncNet``) is a plain
module passed in by Hydra; batches hold windows in our format and reach the net through its window
hooks (:mod:`lipsync_train.networks.sync_windows`). This module adds the loss
(``lipsync_train/losses/syncnet_pair.py``), metrics and optimisation:

- ``loss="bce"``: cosine similarity mapped to a logit by a learnable scale and
  bias (two scalars kept here, not in the net, so exported nets keep the official
  key set), binary cross-entropy against the pair label;
- ``loss="cosine_bce"``: LatentSync's objective, BCE directly on the cosine, for a net whose
  cosine is the sync probability (``cosine_is_probability``); no extra parameters, so a
  fine-tuned LatentSync expert keeps LatentSync's key set;
- ``loss="contrastive"``: the original SyncNet loss on the Euclidean distance,
  ``y d^2 + (1 - y) max(margin - d, 0)^2``; the pair counts as in sync when
  ``d < margin / 2``. Used for syncnet_v2 so that LSE-D distances mean what they
  meant when the network was trained.

``init_from``: a SyncNet checkpoint of ours (``sync_net`` entry; e.g. LatentSync's
``stable_syncnet.pt`` converted) whose weights start the run, loaded strictly (every key of the
net, nothing left over) and whose window format must equal the data's.

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

from lipsync_train.data.datamodule import data_face_template
from lipsync_train.losses.syncnet_pair import bce_pair_loss, contrastive_pair_loss, cosine_bce_pair_loss
from lipsync_train.networks import embed_windows, embedding_distance, native_audio, native_video
from lipsync_train.networks.sync_scorer import read_sync_net_checkpoint

LOSSES = ("bce", "contrastive", "cosine_bce")


class SyncNetLitModule(pl.LightningModule):
    """Train ``net`` to tell in-sync from off-sync (video window, audio window) pairs."""

    def __init__(self, net: nn.Module, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, loss: str = "bce", margin: float = 10.0,
                 max_offset: int = 15, compile: bool = False, init_from: str | None = None):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"model.loss={loss!r}: expected one of {LOSSES}")
        if loss == "cosine_bce" and not getattr(net, "cosine_is_probability", False):
            raise ValueError(f"model.loss=cosine_bce needs a net whose cosine is a probability (LatentSyncSyncNet); "
                             f"{type(net).__name__} has no cosine_is_probability: use model.loss=bce")
        # Only plain values go into hparams, so checkpoints load with torch.load(weights_only=True).
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.net = torch.compile(net) if compile else net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        if loss != "cosine_bce":  # (contrastive runs have always carried the two unused scalars: kept for resumes)
            self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
            self.logit_bias = nn.Parameter(torch.tensor(-5.0))
        self.train_acc, self.val_acc = BinaryAccuracy(), BinaryAccuracy()
        self.val_auc, self.val_loss, self.val_offset_acc = BinaryAUROC(), MeanMetric(), MeanMetric()
        self.run_config: dict | None = None  # the resolved Hydra config, set by train.py, saved in checkpoints
        self.git_revision: str | None = None
        self.init_window = self.load_init(init_from) if init_from else None

    @property
    def sync_net(self) -> nn.Module:
        return getattr(self.net, "_orig_mod", self.net)

    def load_init(self, path: str) -> dict[str, Any] | None:
        """Load ``model.init_from`` strictly -> the window format it was trained on (checked in :meth:`setup`)."""
        info, net_state, other = read_sync_net_checkpoint(path)
        net = self.sync_net
        mine = f"{type(net).__module__}.{type(net).__qualname__}"
        if info["target"] != mine:
            raise ValueError(f"model.init_from={path}: sync_net.target is {info['target']}, model.net is {mine}")
        own = net.state_dict()
        missing, leftover = sorted(set(own) - set(net_state)), sorted(set(net_state) - set(own))
        shapes = sorted(f"{k}: checkpoint {tuple(net_state[k].shape)} vs model {tuple(own[k].shape)}"
                        for k in set(own) & set(net_state) if net_state[k].shape != own[k].shape)
        mine_extra = {k: v for k, v in self.named_parameters() if not k.startswith("net.")}
        leftover += sorted(f"{k} (outside the net)" for k in other if k not in mine_extra)
        if missing or leftover or shapes:
            raise KeyError(f"model.init_from={path} does not fit model.net: missing from the checkpoint {missing}; "
                           f"left over {leftover}; shape mismatches {shapes}")
        net.load_state_dict(net_state, strict=True)
        with torch.no_grad():
            for k, v in other.items():  # a BCE expert's logit scale / bias, when this run has them too
                mine_extra[k].copy_(v)
        self.face_template = info.get("face_template", "mesh")  # the crop its faces came in; kept on save
        return info.get("window")

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        self.face_template = data_face_template(datamodule, getattr(self, "face_template", "mesh"),
                                                self.hparams.init_from)
        spec = getattr(datamodule, "spec", None)
        if self.init_window is not None and spec is not None and asdict(spec) != dict(self.init_window):
            diff = {k: (self.init_window.get(k), v) for k, v in asdict(spec).items() if self.init_window.get(k) != v}
            raise ValueError(f"model.init_from={self.hparams.init_from} was trained on other windows than data gives; "
                             f"field: (checkpoint, data) {diff}")

    def embeddings(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, h, w) uint8, (B, F, L) -> (audio_emb, video_emb), each (B, D)."""
        return embed_windows(self.net, video.float(), audio)

    def scores_and_loss(self, audio_emb: torch.Tensor, video_emb: torch.Tensor,
                        label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.hparams.loss == "cosine_bce":
            return cosine_bce_pair_loss(video_emb, audio_emb, label)
        dist = embedding_distance(audio_emb, video_emb, self.sync_net.distance_kind)
        if self.hparams.loss == "bce":
            return bce_pair_loss(dist, label, self.logit_scale, self.logit_bias)
        return contrastive_pair_loss(dist, label, self.hparams.margin)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        scores, loss = self.scores_and_loss(*self.embeddings(batch["video"], batch["audio"]), batch["label"])
        self.train_acc(scores.detach(), batch["label"].long())
        self.log("train/loss", loss, on_step=True, prog_bar=True, batch_size=len(scores))
        self.log("train/acc", self.train_acc, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(scores))
        return loss

    def offset_hits(self, video: torch.Tensor, context: torch.Tensor, offsets: torch.Tensor,
                    window_steps: int) -> torch.Tensor:
        """(B, T, 3, h, w), context (B, F, C), offsets (B, 2m+1) -> (B,) bool: argmin over the 2m + 1 audio shifts
        within 1 of 0. Shift ``k`` is ``context[:, :, offsets[k] : offsets[k] + window_steps]``
        (:func:`data_prep.audio_features.audio_context`)."""
        m = self.hparams.max_offset
        b, f, _ = context.shape
        idx = offsets[:, :, None, None] + torch.arange(window_steps, device=context.device)  # (B, 2m+1, 1, L)
        shifts = context[:, None].expand(b, offsets.shape[1], f, -1).gather(3, idx.expand(-1, -1, f, -1))
        v = self.net.embed_video(native_video(self.net, video.float()))  # (B, D)
        a = self.net.embed_audio(native_audio(self.net, shifts.flatten(0, 1))).unflatten(0, shifts.shape[:2])
        d = embedding_distance(a, v.unsqueeze(1).expand_as(a), self.sync_net.distance_kind)  # (B, 2m+1)
        return (d.argmin(1) - m).abs() <= 1

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        scores, loss = self.scores_and_loss(*self.embeddings(batch["video"], batch["audio"]), batch["label"])
        self.val_loss(loss, weight=len(scores))
        self.val_acc(scores, batch["label"].long())
        self.val_auc(scores, batch["label"].long())
        ctx = batch["has_context"].bool()
        if ctx.any():
            hits = self.offset_hits(batch["video"][ctx], batch["audio_context"][ctx],
                                    batch["audio_context_offsets"][ctx], batch["audio"].shape[-1])
            self.val_offset_acc(hits.float())
        for name, metric in (("loss", self.val_loss), ("acc", self.val_acc), ("auc", self.val_auc),
                             ("offset_acc", self.val_offset_acc)):
            self.log(f"val/{name}", metric, on_step=False, on_epoch=True, prog_bar=name != "loss",
                     batch_size=len(scores))

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
            "face_template": getattr(self, "face_template", "mesh"),  # data_prep.face_align: mesh | latentsync
        }
        if self.run_config is not None:
            checkpoint["config"] = self.run_config
        if self.git_revision is not None:
            checkpoint["git_revision"] = self.git_revision
