"""Shared setup of the tests that run LatentSync's StableSyncNet through our consumers.

- :data:`TINY_64`: a ``LatentSyncSyncNet`` model section small enough for CPU fits on 64 px fake shards
  (lower half 32 x 64; LatentSync's downsample pattern shortened so the visual tower still ends at 1 x 1);
- :func:`write_syncnet_ckpt`: a checkpoint in the format ``lipsync_train/convert_weights.py`` writes for
  ``stable_syncnet.pt`` (``net.``-prefixed LatentSync keys + the ``sync_net`` entry, no logit scale);
- :func:`tiny_recipe_overrides`: ``experiment=latentsync_syncnet_ar_finetune`` at that size on CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lipsync_train.networks.latentsync_syncnet import LatentSyncSyncNet

TINY_64 = {
    "audio_encoder": {"in_channels": 1, "block_out_channels": [32, 32, 32, 32, 32, 32, 64],
                      "downsample_factors": [[2, 1], 2, 2, 1, 2, 2, [2, 3]], "attn_blocks": [0, 0, 0, 1, 0, 0, 0],
                      "dropout": 0.0},
    "visual_encoder": {"in_channels": 48, "block_out_channels": [32, 32, 32, 32, 32, 64],
                       "downsample_factors": [[1, 2], 2, 2, 2, 2, 2], "attn_blocks": [0, 0, 0, 1, 0, 0],
                       "dropout": 0.0},
}


def window(image_size: int) -> dict:
    """The ``sync_net.window`` of a converted StableSyncNet at ``image_size`` px."""
    return {"n_frames": 16, "image_size": image_size, "crop": "lower_half", "channel_order": "rgb",
            "audio_kind": "latentsync_mel", "n_audio_bins": 80}


def tiny_net(seed: int = 0, miscalibrated: bool = False) -> LatentSyncSyncNet:
    """A random :data:`TINY_64` net. ``miscalibrated``: both towers' last GroupNorm squashed (scale 0.1, shift
    0.5, before the ReLU), so every cosine starts near 1, like an expert that never saw this domain's off-sync
    pairs; a few dozen fine-tuning steps then visibly lower the loss (learning sync from scratch takes hundreds)."""
    torch.manual_seed(seed)
    net = LatentSyncSyncNet(**TINY_64).eval()
    if miscalibrated:
        with torch.no_grad():
            for tower in (net.audio_encoder, net.visual_encoder):
                tower.norm_out.weight.fill_(0.1)
                tower.norm_out.bias.fill_(0.5)
    return net


def write_syncnet_ckpt(path: Path, net: LatentSyncSyncNet, image_size: int) -> Path:
    """``net`` as the converter writes ``OUT/syncnet.ckpt``."""
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "sync_net": {"target": "lipsync_train.networks.latentsync_syncnet.LatentSyncSyncNet",
                             "kwargs": net.init_kwargs, "state_prefix": "net.", "window": window(image_size)}}, path)
    return Path(path)


def _hydra_list(values) -> str:
    return "[" + ",".join(_hydra_list(v) if isinstance(v, (list, tuple)) else str(v) for v in values) + "]"


def tiny_recipe_overrides(init_from: Path, lr: float = 1e-2) -> list[str]:
    """The fine-tune recipe at 64 px with :data:`TINY_64`, on CPU in float32, with a learning rate that moves."""
    net = [f"model.net.{tower}.{key}={_hydra_list(value)}"
           for tower, cfg in TINY_64.items() for key, value in cfg.items() if isinstance(value, list)]
    return ["experiment=latentsync_syncnet_ar_finetune", f"model.init_from={init_from}", *net,
            "trainer=cpu", "trainer.precision=32-true", "data.image_size=64", f"model.optimizer.lr={lr}"]
