"""LatentSync's StableSyncNet, written here so its released ``stable_syncnet.pt`` loads exactly.

Architecture of LatentSync ``latentsync/models/stable_syncnet.py`` with the model section of
``configs/syncnet/syncnet_16_pixel_attn.yaml`` (or ``syncnet_16_pixel.yaml``, no attention):

* two ``DownEncoder2D`` towers: ``conv_in`` 3x3, then per entry of ``block_out_channels`` one
  resnet block (+ an attention block where ``attn_blocks`` is 1, appended to the *same*
  ``down_blocks`` list, so indices shift), then ``norm_out`` GroupNorm(32, eps 1e-6) and a
  **ReLU**; the output ``(B, C, 1, 1)`` is flattened and L2-normalised;
* resnet block = diffusers' ``ResnetBlock2D`` without time embedding (GroupNorm 32 / eps 1e-6,
  SiLU, conv 3x3, GroupNorm, SiLU, dropout, conv 3x3, 1x1 ``conv_shortcut`` when the width
  changes, sum) **followed by** LatentSync's downsampling: zero padding then a 3x3 conv with
  stride = the factor and no padding (``downsample_conv``). Padding ``(left, right, top, bottom)``
  is ``(0, 1, 0, 1)``, but ``(0, 1, 1, 1)`` for a factor ``[1, s]`` and ``(1, 1, 0, 1)`` for
  ``[s, 1]``; a factor of exactly ``1`` has no conv;
* attention block: GroupNorm -> 1x1 ``conv_in`` -> tokens -> ``x + attn(LayerNorm(x))`` (8 heads,
  q/k/v with bias) -> ``x + ff(LayerNorm(x))`` (GEGLU x4) -> 1x1 ``conv_out`` -> + input.

What is written here vs reused: the resnet body, the GEGLU feed-forward and the attention are
diffusers' own modules (``ResnetBlock2D``, ``FeedForward``, ``Attention``), whose math and
parameter names equal LatentSync's; the pad-then-stride downsample, the attention block's
wiring and the towers are LatentSync-specific and written out. Parameter names equal the keys
of LatentSync's state dict, so :func:`load_latentsync_syncnet_state` is a strict, key-by-key load
(LatentSync's checkpoint is ``{"state_dict": ..., "global_step": ...}``).

Inputs (LatentSync ``scripts/train_syncnet.py`` / ``train_unet.py``): 16 frames ``(B, 16, 3, H, W)``
in ``[-1, 1]`` (256 px), stacked to ``(B, 48, H, W)`` with channel ``3 * frame + rgb``, lower half
``[:, :, H // 2:]`` -> ``(B, 48, 128, 256)``; the mel window ``(B, 1, 80, 52)`` of
:mod:`data_prep.latentsync_audio`. Because of the final ReLU both embeddings are non-negative, so
their cosine is in ``[0, 1]`` and LatentSync uses it directly as the sync probability
(``BCELoss(cosine, y)``).

The SyncNet interface's window hooks (``lipsync_train/networks/__init__.py``) map our windows to those
inputs: :meth:`LatentSyncSyncNet.window_video` takes prepared lower halves ``(B, 16, 3, H/2, W)``
0..255 and normalises them as LatentSync's ``ImageProcessor`` does (``(x / 255 - 0.5) / 0.5``), then
stacks them; :meth:`LatentSyncSyncNet.window_audio` adds the channel axis to the ``latentsync_mel``
window. ``cosine_is_probability`` tells the losses to use BCE on the cosine itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

NUM_FRAMES = 16


def _factor(value: Any) -> int | tuple[int, ...]:
    """yaml ``2`` / ``[2, 1]`` (list or ListConfig) -> int / tuple, as LatentSync's ``tuple(list)``."""
    if isinstance(value, int):
        return value
    return tuple(int(v) for v in value)


class LatentSyncResnetBlock2D(ResnetBlock2D):
    """diffusers' resnet block (no time embedding) + LatentSync's pad-then-stride downsample conv."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0, norm_num_groups: int = 32,
                 eps: float = 1e-6, act_fn: str = "silu", downsample_factor: Any = 2):
        super().__init__(in_channels=in_channels, out_channels=out_channels, dropout=dropout, temb_channels=None,
                         groups=norm_num_groups, eps=eps, non_linearity=act_fn)
        factor = _factor(downsample_factor)
        self.downsample_factor = factor
        if factor == 1:
            self.downsample_conv = None
            self.pad = None
        else:
            self.downsample_conv = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=factor, padding=0)
            self.pad = (0, 1, 0, 1)
            if isinstance(factor, tuple):
                if factor[0] == 1:
                    self.pad = (0, 1, 1, 1)  # F.pad order: (left, right, top, bottom)
                elif factor[1] == 1:
                    self.pad = (1, 1, 0, 1)

    def forward(self, input_tensor: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        hidden_states = super().forward(input_tensor, None)
        if self.downsample_conv is not None:
            hidden_states = self.downsample_conv(F.pad(hidden_states, self.pad, mode="constant", value=0))
        return hidden_states


class LatentSyncAttentionBlock2D(nn.Module):
    """LatentSync's ``AttentionBlock2D`` on diffusers' ``Attention`` and ``FeedForward``."""

    def __init__(self, query_dim: int, norm_num_groups: int = 32, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups=norm_num_groups, num_channels=query_dim, eps=1e-6, affine=True)
        self.norm2 = nn.LayerNorm(query_dim)
        self.norm3 = nn.LayerNorm(query_dim)
        self.ff = FeedForward(query_dim, dropout=dropout, activation_fn="geglu")
        self.conv_in = nn.Conv2d(query_dim, query_dim, kernel_size=1, stride=1, padding=0)
        self.conv_out = nn.Conv2d(query_dim, query_dim, kernel_size=1, stride=1, padding=0)
        self.attn = Attention(query_dim=query_dim, heads=8, dim_head=query_dim // 8, dropout=dropout, bias=True)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if hidden_states.dim() != 4:
            raise ValueError(f"expected (B, C, H, W), got {tuple(hidden_states.shape)}")
        b, c, h, w = hidden_states.shape
        residual = hidden_states
        x = self.conv_in(self.norm1(hidden_states))
        x = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # b c h w -> b (h w) c
        x = self.attn(self.norm2(x)) + x
        x = self.ff(self.norm3(x)) + x
        x = x.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()
        return self.conv_out(x) + residual


class LatentSyncDownEncoder2D(nn.Module):
    """One StableSyncNet tower (``audio_encoder`` or ``visual_encoder`` of the yaml)."""

    def __init__(self, in_channels: int, block_out_channels, downsample_factors, attn_blocks, dropout: float = 0.0,
                 norm_num_groups: int = 32, act_fn: str = "silu", gradient_checkpointing: bool = False):
        super().__init__()
        block_out_channels = [int(c) for c in block_out_channels]
        if not (len(block_out_channels) == len(downsample_factors) == len(attn_blocks)):
            raise ValueError(f"block_out_channels {block_out_channels}, downsample_factors {list(downsample_factors)} "
                             f"and attn_blocks {list(attn_blocks)} must have the same length")
        self.gradient_checkpointing = gradient_checkpointing
        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, stride=1, padding=1)
        self.down_blocks = nn.ModuleList([])
        out_ch = block_out_channels[0]
        for i, ch in enumerate(block_out_channels):
            in_ch, out_ch = out_ch, ch
            self.down_blocks.append(LatentSyncResnetBlock2D(in_ch, out_ch, dropout=dropout, norm_num_groups=norm_num_groups,
                                                            act_fn=act_fn, downsample_factor=downsample_factors[i]))
            if int(attn_blocks[i]) == 1:
                self.down_blocks.append(LatentSyncAttentionBlock2D(out_ch, dropout=dropout))
        self.norm_out = nn.GroupNorm(num_channels=block_out_channels[-1], num_groups=norm_num_groups, eps=1e-6)
        self.act_fn_out = nn.ReLU()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.conv_in(hidden_states)
        for block in self.down_blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                hidden_states = torch.utils.checkpoint.checkpoint(block, hidden_states, use_reentrant=False)
            else:
                hidden_states = block(hidden_states)
        return self.act_fn_out(self.norm_out(hidden_states))


def _tower_kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "in_channels": int(cfg["in_channels"]),
        "block_out_channels": list(cfg["block_out_channels"]),
        "downsample_factors": [_factor(f) for f in cfg["downsample_factors"]],
        "attn_blocks": [int(a) for a in cfg["attn_blocks"]],
        "dropout": float(cfg.get("dropout", 0.0)),
    }


class LatentSyncSyncNet(nn.Module):
    """StableSyncNet with LatentSync's parameter names; see the module docstring for the maths.

    ``LatentSyncSyncNet(audio_encoder=..., visual_encoder=...)`` takes the two dicts of the yaml's
    ``model`` section; :meth:`from_latentsync_config` takes that section, the whole yaml dict or a
    yaml path.
    """

    def __init__(self, audio_encoder: Mapping[str, Any], visual_encoder: Mapping[str, Any],
                 gradient_checkpointing: bool = False):
        super().__init__()
        self.audio_encoder = LatentSyncDownEncoder2D(**_tower_kwargs(audio_encoder),
                                                     gradient_checkpointing=gradient_checkpointing)
        self.visual_encoder = LatentSyncDownEncoder2D(**_tower_kwargs(visual_encoder),
                                                      gradient_checkpointing=gradient_checkpointing)
        self.in_frames = int(visual_encoder["in_channels"]) // 3
        self.init_kwargs = {"audio_encoder": _plain(audio_encoder), "visual_encoder": _plain(visual_encoder)}
        self.distance_kind = "cosine"
        self.cosine_is_probability = True  # final ReLU: the cosine is in [0, 1] and trained with BCE on it

    @classmethod
    def from_latentsync_config(cls, config: Mapping[str, Any] | str | Path, **kwargs) -> LatentSyncSyncNet:
        if isinstance(config, (str, Path)):
            from omegaconf import OmegaConf

            config = OmegaConf.to_container(OmegaConf.load(str(config)), resolve=True)
        elif not isinstance(config, dict):  # e.g. a DictConfig
            from omegaconf import OmegaConf

            config = OmegaConf.to_container(config, resolve=True) if OmegaConf.is_config(config) else dict(config)
        model = config.get("model", config)
        for key in ("audio_encoder", "visual_encoder"):
            if key not in model:
                raise KeyError(f"LatentSync syncnet config has no model.{key} (keys: {sorted(model)})")
        return cls(model["audio_encoder"], model["visual_encoder"], **kwargs)

    # ------------------------------------------------------------------ inputs
    def stack_lower_half(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, F, 3, H, W)`` -> ``(B, 3F, H - H // 2, W)``: channel ``3 f + c``, rows ``H // 2 :``."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"expected frames (B, F, 3, H, W), got {tuple(frames.shape)}")
        b, f, c, h, w = frames.shape
        if f != self.in_frames:
            raise ValueError(f"this SyncNet takes {self.in_frames} frames, got {f}")
        stacked = frames.reshape(b, f * c, h, w)
        return stacked[:, :, h // 2:, :]

    def window_video(self, video: torch.Tensor) -> torch.Tensor:
        """Our window (``prepare_frames``, crop ``lower_half``): ``(B, F, 3, h, w)`` float 0..255 lower halves
        -> ``(B, 3F, h, w)`` in [-1, 1], the stacked input LatentSync feeds ``embed_video``."""
        if video.dim() != 5 or video.shape[2] != 3:
            raise ValueError(f"expected a window (B, F, 3, h, w), got {tuple(video.shape)}")
        b, f, c, h, w = video.shape
        if f != self.in_frames:
            raise ValueError(f"this SyncNet takes {self.in_frames} frames, got {f} (data.n_frames)")
        if h != w - w // 2:
            raise ValueError(f"LatentSync's SyncNet reads lower halves (h = w / 2), got a {h} x {w} window: "
                             f"set data.crop=lower_half")
        return ((video / 255.0 - 0.5) / 0.5).reshape(b, f * c, h, w)

    def window_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """Our ``latentsync_mel`` window ``(B, 80, 52)`` -> ``(B, 1, 80, 52)``."""
        if mel.dim() != 3:
            raise ValueError(f"expected a mel window (B, 80, L), got {tuple(mel.shape)}")
        return mel.unsqueeze(1)

    # ------------------------------------------------------------------ embeddings
    def embed_video(self, frames: torch.Tensor) -> torch.Tensor:
        """Unit embeddings ``(B, D)``: ``frames`` ``(B, 16, 3, H, W)`` in [-1, 1] (stacked and cut to the
        lower half here) or LatentSync's already stacked lower half ``(B, 48, H/2, W)``."""
        x = self.stack_lower_half(frames) if frames.dim() == 5 else frames
        emb = self.visual_encoder(x)
        return F.normalize(emb.reshape(emb.shape[0], -1), p=2, dim=1)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """Unit embeddings ``(B, D)`` of mel windows ``(B, 1, 80, 52)``."""
        emb = self.audio_encoder(mel)
        return F.normalize(emb.reshape(emb.shape[0], -1), p=2, dim=1)

    def forward(self, frames: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LatentSync's ``StableSyncNet.forward``: ``(vision_embeds, audio_embeds)``, both ``(B, D)``."""
        return self.embed_video(frames), self.embed_audio(mel)

    @staticmethod
    def sync_probability(vision_embeds: torch.Tensor, audio_embeds: torch.Tensor) -> torch.Tensor:
        """``(B,)`` cosine similarity in [0, 1], LatentSync's sync probability."""
        return F.cosine_similarity(vision_embeds, audio_embeds)

    @classmethod
    def sync_loss(cls, vision_embeds: torch.Tensor, audio_embeds: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LatentSync's ``cosine_loss``: per-sample ``BCE(cosine, y)`` in float32, shape ``(B,)``."""
        sims = cls.sync_probability(vision_embeds.float(), audio_embeds.float())
        return F.binary_cross_entropy(sims, y.reshape(-1).float(), reduction="none")


def _plain(value: Any) -> Any:
    """yaml values (DictConfig / ListConfig / tuples) -> plain dicts and lists, for ``init_kwargs``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return value
    return [_plain(v) for v in value]


def load_latentsync_syncnet_state(model: LatentSyncSyncNet, state: Mapping[str, Any]) -> LatentSyncSyncNet:
    """Load LatentSync's ``stable_syncnet.pt`` (``{"state_dict": ...}`` or a bare state dict) strictly.

    Raises ``KeyError`` naming every checkpoint key the model lacks, every model key the checkpoint
    lacks and every shape mismatch (LatentSync's UNet loader's ``strict=False`` silently skipped such
    tensors). Tensors are cast to the model's dtype (the checkpoint may be fp16).
    """
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or shapes:
        raise KeyError(f"LatentSync syncnet state does not match the model: missing from checkpoint {missing}; "
                       f"not in the model {unexpected}; shape mismatches {shapes}")
    model.load_state_dict(dict(state), strict=True)
    return model
