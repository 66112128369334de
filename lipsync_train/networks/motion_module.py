"""The AnimateDiff-style motion module of LatentSync's UNet ("Vanilla" temporal module).

Our implementation of ``latentsync/models/motion_module.py`` (LatentSync, Apache-2.0), with the
same parameter and buffer names so that ``latentsync_unet.pt`` loads strictly. Library parts:
``diffusers``' ``Attention`` (its default SDPA processor does LatentSync's attention math:
bias-free q/k/v, 1/sqrt(head_dim) scale, biased ``to_out.0``) and ``FeedForward`` (GEGLU). Ours:
the frame folding, the sinusoidal position encoding and the temporal transformer around them.

What a motion module computes on ``x`` of shape ``(B, C, F, H, W)``:

1. GroupNorm per frame with 32 groups, eps 1e-6. The 32 is fixed: LatentSync's
   ``TemporalTransformer3DModel`` never receives the UNet's ``norm_num_groups``.
2. ``proj_in`` (Linear), then for every spatial position a sequence of ``F`` tokens.
3. Per transformer block, for each of its temporal self-attentions: LayerNorm, then add the
   sinusoidal encoding (sin on even, cos on odd channels; the ``pe`` buffer, ``max_len`` 24 in
   stage2.yaml, is in the state dict) to the normed tokens, attend over the frames, add the
   residual (without the encoding). Then LayerNorm + GEGLU feed-forward + residual.
4. ``proj_out`` (Linear; zero-initialised, so a fresh module is the identity) plus the input.

LatentSync rearranges ``(b f) s c -> (b s) f c`` inside every attention and back; LayerNorm and
the feed-forward act per token, so we rearrange once per module, which gives the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from torch import nn

MOTION_NORM_GROUPS = 32  # fixed in LatentSync, whatever the UNet's norm_num_groups


def fold_frames(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, F, H, W)`` -> ``(B*F, C, H, W)`` in ``(b f)`` order."""
    b, c, f, h, w = x.shape
    return x.transpose(1, 2).reshape(b * f, c, h, w)


def unfold_frames(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``(B*F, C, H, W)`` in ``(b f)`` order -> ``(B, C, F, H, W)``."""
    bf, c, h, w = x.shape
    return x.reshape(batch, bf // batch, c, h, w).transpose(1, 2)


@dataclass
class MotionModuleConfig:
    """LatentSync's ``motion_module_kwargs``; defaults are ``VanillaTemporalModule``'s own (note
    2 transformer blocks and no position encoding: stage2.yaml sets 1 block and PE max len 24)."""

    num_attention_heads: int = 8
    num_transformer_block: int = 2
    attention_block_types: tuple[str, ...] = ("Temporal_Self", "Temporal_Self")
    cross_frame_attention_mode: str | None = None
    temporal_position_encoding: bool = False
    temporal_position_encoding_max_len: int = 24
    temporal_attention_dim_div: int = 1
    zero_initialize: bool = True

    def __post_init__(self) -> None:
        self.attention_block_types = tuple(self.attention_block_types)
        bad = [t for t in self.attention_block_types if t != "Temporal_Self"]
        if bad:
            raise NotImplementedError(f"motion_module_kwargs.attention_block_types {bad}: only 'Temporal_Self' "
                                      "is implemented (LatentSync's cross variants are never executed)")
        if self.cross_frame_attention_mode is not None:
            raise NotImplementedError("motion_module_kwargs.cross_frame_attention_mode must be null")

    @classmethod
    def from_dict(cls, kwargs: dict) -> MotionModuleConfig:
        unknown = sorted(set(kwargs) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown motion_module_kwargs: {unknown}")
        return cls(**kwargs)


class SinusoidalPositionEncoding(nn.Module):
    """Adds ``pe[:, :F]`` to ``(N, F, C)`` tokens; ``pe`` is a persistent buffer (in checkpoints)."""

    def __init__(self, dim: int, max_len: int = 24):
        super().__init__()
        # same ops and dtypes as LatentSync's PositionalEncoding, so a fresh table is bit-identical
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe = torch.zeros(1, max_len, dim)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_frames, max_len = x.shape[1], self.pe.shape[1]
        if n_frames > max_len:
            raise ValueError(f"motion module: {n_frames} frames, but its position encoding holds {max_len} "
                             "(temporal_position_encoding_max_len); run the UNet on shorter windows")
        return x + self.pe[:, :n_frames]


class TemporalSelfAttention(Attention):
    """diffusers ``Attention`` over ``(B*H*W, F, C)`` frame sequences, with LatentSync's
    ``pos_encoder`` as a child (state-dict key ``...attention_blocks.N.pos_encoder.pe``)."""

    def __init__(self, dim: int, heads: int, dim_head: int, pe_max_len: int | None):
        super().__init__(query_dim=dim, heads=heads, dim_head=dim_head, bias=False)
        self.pos_encoder = SinusoidalPositionEncoding(dim, pe_max_len) if pe_max_len else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.pos_encoder is not None:
            hidden_states = self.pos_encoder(hidden_states)
        return super().forward(hidden_states)


class TemporalTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, n_attentions: int, pe_max_len: int | None):
        super().__init__()
        self.attention_blocks = nn.ModuleList(
            [TemporalSelfAttention(dim, heads, dim_head, pe_max_len) for _ in range(n_attentions)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(n_attentions)])
        self.ff = FeedForward(dim, dropout=0.0, activation_fn="geglu")
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x)) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer(nn.Module):
    def __init__(self, channels: int, cfg: MotionModuleConfig):
        super().__init__()
        heads = cfg.num_attention_heads
        dim_head = channels // heads // cfg.temporal_attention_dim_div
        inner = heads * dim_head
        pe_max_len = cfg.temporal_position_encoding_max_len if cfg.temporal_position_encoding else None
        self.norm = nn.GroupNorm(MOTION_NORM_GROUPS, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList([
            TemporalTransformerBlock(inner, heads, dim_head, len(cfg.attention_block_types), pe_max_len)
            for _ in range(cfg.num_transformer_block)])
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = x.shape
        y = self.norm(fold_frames(x))  # per-frame statistics, as in LatentSync
        y = y.reshape(b, f, c, h, w).permute(0, 3, 4, 1, 2).reshape(b * h * w, f, c)
        y = self.proj_in(y)
        for block in self.transformer_blocks:
            y = block(y)
        y = self.proj_out(y)
        return y.reshape(b, h, w, f, c).permute(0, 4, 3, 1, 2) + x


class MotionModule(nn.Module):
    """LatentSync's ``VanillaTemporalModule``: ``(B, C, F, H, W)`` -> same shape."""

    def __init__(self, channels: int, cfg: MotionModuleConfig):
        super().__init__()
        if channels % cfg.num_attention_heads or channels % MOTION_NORM_GROUPS:
            raise ValueError(f"motion module over {channels} channels: needs a multiple of "
                             f"{MOTION_NORM_GROUPS} (its GroupNorm) and of {cfg.num_attention_heads} heads")
        self.temporal_transformer = TemporalTransformer(channels, cfg)
        if cfg.zero_initialize:
            nn.init.zeros_(self.temporal_transformer.proj_out.weight)
            nn.init.zeros_(self.temporal_transformer.proj_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal_transformer(x)
