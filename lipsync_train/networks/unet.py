"""The denoiser: a ``diffusers.UNet2DConditionModel`` with 13 input channels and audio cross-attention.

Input channels, in this order (:func:`assemble_unet_input`), for latent channels ``C`` (4 with the SD VAE):

====================  ====  =================================================
noisy latent          C     the frame being denoised
mouth mask            1     1 where the mouth is regenerated (``mouth_mask.py``)
masked-frame latent   C     the same frame with the mouth blanked: pose, skin
reference latent      C     a frame of the same clip from another window: identity, teeth
====================  ====  =================================================

Cross-attention reads the per-frame Whisper tokens (``audio_encoder.py``), so
``cross_attention_dim`` = the Whisper ``d_model``. Frames are a batch axis:
``(B, T)`` clips are flattened to ``B T`` images. With ``temporal=True`` a
``diffusers`` ``TransformerTemporalModel`` (attention along T, zero-initialised
output so it starts as the identity) is added after the mid block and each up
block through forward hooks, which keeps the 2D UNet's state dict (and SD-1.5
weight loading) unchanged. :func:`load_pretrained_unet` copies SD-1.5 weights
from a local path into the model, skipping tensors whose shape differs
(conv_in: 4 -> 13 channels, cross-attention k/v when the audio width is not
768), except that conv_in's first C input channels are taken over.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
from torch import nn

from lipsync_train.networks.specs import plain_config

log = logging.getLogger(__name__)


def assemble_unet_input(noisy: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor,
                        reference: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w), (N, 1, h, w), (N, C, h, w), (N, C, h, w) -> (N, 3C + 1, h, w)."""
    n, c, h, w = noisy.shape
    expect = {"mask": (n, 1, h, w), "masked": (n, c, h, w), "reference": (n, c, h, w)}
    for name, x in (("mask", mask), ("masked", masked), ("reference", reference)):
        if tuple(x.shape) != expect[name]:
            raise ValueError(f"UNet input {name!r}: expected shape {expect[name]}, got {tuple(x.shape)}")
    return torch.cat([noisy, mask.to(noisy.dtype), masked, reference], dim=1)


class LipSyncUNet(nn.Module):
    """UNet2DConditionModel (+ optional temporal attention) over assembled 13-channel latents."""

    def __init__(self, unet: dict[str, Any], pretrained: str | None = None, temporal: bool = False,
                 temporal_heads: int = 8, gradient_checkpointing: bool = False):
        super().__init__()
        cfg = dict(unet)
        out_c = cfg.get("out_channels", 4)
        if cfg.get("in_channels") != 3 * out_c + 1:
            raise ValueError(f"model.net.unet.in_channels={cfg.get('in_channels')}: expected 3 x out_channels + 1 "
                             f"= {3 * out_c + 1} (noisy + mask + masked + reference latents)")
        self.unet = UNet2DConditionModel(**cfg)
        self.latent_channels, self.temporal_heads = out_c, temporal_heads
        if pretrained:
            load_pretrained_unet(self.unet, pretrained)
        self.temporal = nn.ModuleList()
        self._num_frames = 1
        if temporal:
            self._add_temporal_layers(temporal_heads)
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        # rebuilds the same network from a checkpoint, without the pretrained path
        self.init_kwargs = {"unet": plain_config(self.unet.config), "temporal": temporal,
                            "temporal_heads": temporal_heads}

    def enable_gradient_checkpointing(self) -> None:
        self.unet.enable_gradient_checkpointing()

    @staticmethod
    def net_mask(pixel_mask: torch.Tensor, downsample: int) -> torch.Tensor:
        """(1, 1, S, S) pixel mask, 1 = regenerate -> the mask channel this net was trained with, (1, 1, h, w):
        a latent cell is masked if any of its pixels is."""
        return F.max_pool2d(pixel_mask.float(), downsample)

    def _add_temporal_layers(self, heads: int) -> None:
        groups = self.unet.config.norm_num_groups or 32
        blocks = [self.unet.mid_block, *self.unet.up_blocks]
        widths = [self.unet.config.block_out_channels[-1], *reversed(self.unet.config.block_out_channels)]
        for block, width in zip(blocks, widths):
            layer = TransformerTemporalModel(num_attention_heads=heads, attention_head_dim=width // heads,
                                             in_channels=width, norm_num_groups=groups)
            nn.init.zeros_(layer.proj_out.weight)
            nn.init.zeros_(layer.proj_out.bias)
            self.temporal.append(layer)
            block.register_forward_hook(self._temporal_hook(len(self.temporal) - 1))

    def _temporal_hook(self, i: int):
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
            if self._num_frames <= 1:
                return output
            return self.temporal[i](output, num_frames=self._num_frames).sample  # (B T, C, h, w)
        return hook

    def forward(self, noisy: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor, reference: torch.Tensor,
                timesteps: torch.Tensor, audio_tokens: torch.Tensor, num_frames: int = 1) -> torch.Tensor:
        """Latents (N, C, h, w) x3 + mask (N, 1, h, w), timesteps (N,), audio (N, K, D) -> prediction (N, C, h, w).

        ``N = B x num_frames`` with frames of a clip adjacent; ``num_frames`` matters only with temporal layers.
        """
        x = assemble_unet_input(noisy, mask, masked, reference)  # (N, 3C + 1, h, w)
        self._num_frames = num_frames if len(self.temporal) else 1
        try:
            return self.unet(x, timesteps, encoder_hidden_states=audio_tokens.to(x.dtype)).sample
        finally:
            self._num_frames = 1


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A diffusers UNet directory (or its parent with ``unet/``) or a single weights file -> state dict."""
    if path.is_dir():
        folder = path / "unet" if (path / "unet").is_dir() else path
        files = sorted(folder.glob("diffusion_pytorch_model*.safetensors")) or sorted(folder.glob("*.bin"))
        if not files:
            raise FileNotFoundError(f"{folder}: no diffusion_pytorch_model*.safetensors or *.bin weights")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"model.net.pretrained={str(path)!r}: no such file or directory")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        if f.suffix == ".safetensors":
            from safetensors.torch import load_file
            state.update(load_file(str(f)))
        else:
            loaded = torch.load(f, map_location="cpu", weights_only=True)
            state.update(loaded.get("state_dict", loaded))
    return state


def load_pretrained_unet(unet: nn.Module, source: str | Path | dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy matching tensors of an SD-1.5-style UNet into ``unet``; -> {"loaded", "partial", "skipped", "missing"}.

    A tensor is loaded when name and shape match. ``conv_in.weight`` with fewer
    input channels (4 vs 13) is copied into the first channels, the rest zeroed
    ("partial"), so the pretrained model's behaviour on the noisy latent is kept.
    Any other shape mismatch (cross-attention from 768-wide text to a different
    audio width) is skipped and keeps its random initialisation.
    """
    if not isinstance(source, dict) and not Path(source).exists():  # a hub id: the SD-1.5 repo's unet/ folder
        from data_prep.pretrained import resolve_pretrained

        source = resolve_pretrained(source, "model.net.pretrained", ["unet/config.json",
                                                                      "unet/diffusion_pytorch_model.safetensors"])
    theirs = source if isinstance(source, dict) else _read_state_dict(Path(source))
    ours = unet.state_dict()
    report: dict[str, list[str]] = {"loaded": [], "partial": [], "skipped": [], "missing": []}
    new_state = {}
    for name, mine in ours.items():
        if name not in theirs:
            report["missing"].append(name)
            continue
        other = theirs[name]
        if other.shape == mine.shape:
            new_state[name] = other.to(mine.dtype)
            report["loaded"].append(name)
        elif name == "conv_in.weight" and other.shape[0] == mine.shape[0] and other.shape[1] < mine.shape[1] \
                and other.shape[2:] == mine.shape[2:]:
            widened = torch.zeros_like(mine)
            widened[:, :other.shape[1]] = other.to(mine.dtype)
            new_state[name] = widened
            report["partial"].append(name)
        else:
            report["skipped"].append(f"{name}: ours {tuple(mine.shape)}, theirs {tuple(other.shape)}")
    unet.load_state_dict(new_state, strict=False)
    log.info("pretrained UNet: %d tensors loaded, %d partially, %d skipped (shape), %d not in the source",
             len(report["loaded"]), len(report["partial"]), len(report["skipped"]), len(report["missing"]))
    for line in report["skipped"]:
        log.info("  skipped %s", line)
    return report
