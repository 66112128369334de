"""LatentSync's 3-D UNet (``UNet3DConditionModel``), our implementation, loading ``latentsync_unet.pt`` exactly.

Mirrors ``latentsync/models/{unet,unet_blocks,resnet,attention}.py`` of bytedance/LatentSync
(Apache-2.0) with identical state-dict keys: the key-rename map is empty (``LATENTSYNC_KEY_RENAMES``),
so a released checkpoint loads with ``load_state_dict(strict=True)``; :func:`load_latentsync_unet_state`
checks first and names every missing / unexpected key and every shape mismatch. Parity with LatentSync's
own code is tested against fixtures made with it (``tests/lipsync_train/test_latentsync_unet_parity.py``).

Library parts (same math as LatentSync's copies): ``diffusers`` ``Timesteps`` / ``TimestepEmbedding``,
``Attention`` (SDPA processor), ``FeedForward`` (GEGLU), ``Downsample2D`` / ``Upsample2D`` (applied per
frame). Ours, because no library has them: the resnets whose ``norm1`` / ``norm2`` (and the UNet's
``conv_norm_out``) are GroupNorms over the 5-D tensor, i.e. statistics over (C/G, F, H, W) jointly -- a 2-D
UNet run over B*F images is NOT this model --; the per-frame transformers whose ``attn2`` reads each
frame's own audio tokens; the motion modules (``motion_module.py``); the wiring.

Input / output (:meth:`LatentSyncUNet3D.forward`):

- ``sample`` ``(B, in_channels, F, H, W)``: for LatentSync 13 channels = noisy latent 4, mask 1,
  masked-frame latent 4, reference latent 4, in that order. ``F`` <= the PE max length (24).
- ``timestep``: int / float / 0-d / ``(B,)`` tensor, broadcast to B.
- ``encoder_hidden_states``: audio tokens ``(B*F, S, D)`` in ``(b f)`` order (LatentSync's inference; with
  CFG the batch is ``[zeros, audio]``) or ``(B, F, S, D)`` (its training); ``S`` = 50 Whisper tokens,
  ``D`` = ``cross_attention_dim`` (384). ``None`` skips every ``attn2`` (as LatentSync does).
- returns the prediction ``(B, out_channels, F, H, W)`` as a tensor (LatentSync returns ``.sample``).

LatentSync's forward also takes ``attention_mask`` (ignored by its blocks), ``class_labels`` and ControlNet
residuals (unused by its pipelines); they are left out. Config options that LatentSync ignores
(``only_cross_attention``, ``upcast_attention``) are accepted and ignored here too; options no released
config uses and that would need more code (class embeddings, linear projections, scale-shift time
embedding, dual cross-attention) raise ``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.upsampling import Upsample2D
from torch import nn
from torch.utils.checkpoint import checkpoint

from lipsync_train.networks.motion_module import MotionModule, MotionModuleConfig, fold_frames, unfold_frames

#: our key -> LatentSync key; empty: every parameter / buffer has LatentSync's name
LATENTSYNC_KEY_RENAMES: dict[str, str] = {}

_DOWN_TYPES = {"CrossAttnDownBlock3D": True, "DownBlock3D": False}  # type -> has frame transformers
_UP_TYPES = {"CrossAttnUpBlock3D": True, "UpBlock3D": False}


@dataclass
class LatentSyncUNetConfig:
    """The keys of LatentSync's ``model:`` section (configs/unet/*.yaml), with its ``__init__`` defaults.

    ``attention_head_dim`` is the number of HEADS per block (8 -> 8 heads of C/8 channels), as in LatentSync.
    """

    sample_size: int | None = None
    in_channels: int = 4
    out_channels: int = 4
    center_input_sample: bool = False
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    down_block_types: tuple[str, ...] = ("CrossAttnDownBlock3D",) * 3 + ("DownBlock3D",)
    mid_block_type: str = "UNetMidBlock3DCrossAttn"
    up_block_types: tuple[str, ...] = ("UpBlock3D",) + ("CrossAttnUpBlock3D",) * 3
    only_cross_attention: bool = False  # no effect in LatentSync
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    downsample_padding: int = 1
    mid_block_scale_factor: float = 1.0
    act_fn: str = "silu"
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    cross_attention_dim: int = 1280
    attention_head_dim: int | tuple[int, ...] = 8
    dual_cross_attention: bool = False
    use_linear_projection: bool = False
    class_embed_type: str | None = None
    num_class_embeds: int | None = None
    upcast_attention: bool = False  # no effect in LatentSync (its attention is plain SDPA)
    resnet_time_scale_shift: str = "default"
    use_inflated_groupnorm: bool = False  # True: resnet / output norms per frame (not LatentSync's configs)
    use_motion_module: bool = False
    motion_module_resolutions: tuple[int, ...] = (1, 2, 4, 8)
    motion_module_mid_block: bool = False
    motion_module_decoder_only: bool = False
    motion_module_type: str | None = None
    motion_module_kwargs: dict = field(default_factory=dict)
    add_audio_layer: bool = False

    def __post_init__(self) -> None:
        for name in ("down_block_types", "up_block_types", "block_out_channels", "motion_module_resolutions"):
            setattr(self, name, tuple(getattr(self, name)))
        # LatentSync strips a "UNetRes" prefix from block types
        self.down_block_types = tuple(t.removeprefix("UNetRes") for t in self.down_block_types)
        self.up_block_types = tuple(t.removeprefix("UNetRes") for t in self.up_block_types)
        self.norm_eps, self.mid_block_scale_factor = float(self.norm_eps), float(self.mid_block_scale_factor)
        n = len(self.block_out_channels)
        heads = self.attention_head_dim
        self.attention_head_dim = (int(heads),) * n if isinstance(heads, (int, float)) else tuple(heads)
        if not len(self.down_block_types) == n == len(self.up_block_types) == len(self.attention_head_dim):
            raise ValueError("down_block_types, up_block_types, block_out_channels, attention_head_dim: "
                             "lengths differ")
        checks = [
            (all(t in _DOWN_TYPES for t in self.down_block_types), f"down_block_types {self.down_block_types}"),
            (all(t in _UP_TYPES for t in self.up_block_types), f"up_block_types {self.up_block_types}"),
            (self.mid_block_type == "UNetMidBlock3DCrossAttn", f"mid_block_type {self.mid_block_type}"),
            (self.act_fn in ("silu", "swish"), f"act_fn {self.act_fn!r} (silu only)"),
            (self.resnet_time_scale_shift == "default", "resnet_time_scale_shift 'scale_shift'"),
            (self.class_embed_type is None and self.num_class_embeds is None, "class embeddings"),
            (not self.dual_cross_attention, "dual_cross_attention"),
            (not self.use_linear_projection, "use_linear_projection"),
            (self.downsample_padding != 0, "downsample_padding 0"),
            (not self.use_motion_module or self.motion_module_type == "Vanilla",
             f"motion_module_type {self.motion_module_type!r} (Vanilla only)"),
        ]
        bad = [what for ok, what in checks if not ok]
        if bad:
            raise NotImplementedError(f"LatentSync UNet config not supported: {'; '.join(bad)}")
        self.motion = MotionModuleConfig.from_dict(dict(self.motion_module_kwargs)) if self.use_motion_module else None


def _plain(value):
    """dicts / lists (OmegaConf containers included) -> plain Python containers."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(v) for v in value]
    return value


def from_latentsync_config(cfg: Mapping) -> LatentSyncUNet3D:
    """Build from LatentSync's unet config: the ``model:`` mapping or the whole yaml (dict / DictConfig).

    Unknown keys are an error (keys starting with ``_``, as diffusers writes them, are skipped)."""
    cfg = _plain(cfg)
    cfg = cfg["model"] if isinstance(cfg.get("model"), dict) else cfg
    cfg = {k: v for k, v in cfg.items() if not str(k).startswith("_")}
    unknown = sorted(set(cfg) - {f.name for f in fields(LatentSyncUNetConfig)})
    if unknown:
        raise ValueError(f"unknown LatentSync UNet config keys: {unknown}")
    return LatentSyncUNet3D(LatentSyncUNetConfig(**cfg))


class LatentSyncCheckpointError(ValueError):
    """A state dict that does not fit the model exactly (names every leftover key and shape mismatch)."""


def load_latentsync_unet_state(model: nn.Module, state_dict: Mapping, assign: bool = False) -> None:
    """Load LatentSync UNet weights strictly into ``model``.

    ``state_dict``: a bare state dict or the checkpoint as LatentSync saves it (``{"state_dict": ...,
    "global_step": ...}``). Keys go through ``LATENTSYNC_KEY_RENAMES`` (empty). Raises
    :class:`LatentSyncCheckpointError` naming every checkpoint key the model lacks, every model key the
    checkpoint lacks and every shape mismatch; nothing is loaded then. (LatentSync's own loader uses
    ``strict=False`` and silently drops mismatched tensors: this one never does.) dtypes are cast to the
    model's unless ``assign`` (then the checkpoint tensors become the parameters, e.g. into a meta model).
    """
    if isinstance(state_dict.get("state_dict"), Mapping):
        state_dict = state_dict["state_dict"]
    inverse = {v: k for k, v in LATENTSYNC_KEY_RENAMES.items()}
    state = {inverse.get(k, k): v for k, v in state_dict.items()}
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    not_tensor = sorted(k for k, v in state.items() if not isinstance(v, torch.Tensor))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in own.keys() & state.keys()
                    if isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape)
    problems = [(f"{len(missing)} model key(s) missing from the checkpoint", missing),
                (f"{len(unexpected)} checkpoint key(s) the model does not have", unexpected),
                (f"{len(not_tensor)} checkpoint value(s) that are not tensors", not_tensor),
                (f"{len(shapes)} shape mismatch(es)", shapes)]
    if any(items for _, items in problems):
        lines = [f"{title}:\n  " + "\n  ".join(items) for title, items in problems if items]
        raise LatentSyncCheckpointError("LatentSync UNet checkpoint does not fit the model (check the config):\n"
                                        + "\n".join(lines))
    model.load_state_dict(state, strict=True, assign=assign)


def _call(gc: bool, module: nn.Module, *args):
    """``module(*args)``, under activation checkpointing when enabled and gradients are on."""
    if gc and torch.is_grad_enabled():
        return checkpoint(module, *args, use_reentrant=False)
    return module(*args)


class FrameConv2d(nn.Conv2d):
    """LatentSync's ``InflatedConv3d``: a 2-D convolution applied to every frame of ``(B, C, F, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unfold_frames(super().forward(fold_frames(x)), x.shape[0])


class VideoGroupNorm(nn.GroupNorm):
    """GroupNorm on ``(B, C, F, H, W)``: statistics over (C/G, F, H, W) jointly (LatentSync's resnets and
    ``conv_norm_out``); with ``per_frame`` over (C/G, H, W) of each frame (``use_inflated_groupnorm``)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float, per_frame: bool = False):
        super().__init__(num_groups, num_channels, eps=eps, affine=True)
        self.per_frame = per_frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"VideoGroupNorm expects (B, C, F, H, W), got {tuple(x.shape)}")
        if self.per_frame:
            return unfold_frames(super().forward(fold_frames(x)), x.shape[0])
        return super().forward(x)


class ResnetBlock3D(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int, groups: int, eps: float, output_scale_factor: float = 1.0,
                 per_frame_norm: bool = False):
        super().__init__()
        self.norm1 = VideoGroupNorm(groups, cin, eps, per_frame_norm)
        self.conv1 = FrameConv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = VideoGroupNorm(groups, cout, eps, per_frame_norm)
        self.conv2 = FrameConv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = FrameConv2d(cin, cout, 1) if cin != cout else None
        self.act = nn.SiLU()
        self.output_scale_factor = output_scale_factor

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.time_emb_proj(self.act(temb))[:, :, None, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return (skip + h) / self.output_scale_factor


class AudioTransformerBlock(nn.Module):
    """Per-frame block: self-attention over the frame's H*W tokens, cross-attention to its audio tokens
    (``attn2``, only with ``add_audio_layer``), GEGLU feed-forward; pre-LayerNorm, residuals."""

    def __init__(self, dim: int, heads: int, cross_attention_dim: int, add_audio_layer: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(query_dim=dim, heads=heads, dim_head=dim // heads, bias=False)
        if add_audio_layer:
            self.norm2 = nn.LayerNorm(dim)
            self.attn2 = Attention(query_dim=dim, cross_attention_dim=cross_attention_dim, heads=heads,
                                   dim_head=dim // heads, bias=False)
        else:
            self.attn2 = None
        self.ff = FeedForward(dim, dropout=0.0, activation_fn="geglu")
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, audio: torch.Tensor | None) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        if self.attn2 is not None and audio is not None:
            x = self.attn2(self.norm2(x), encoder_hidden_states=audio) + x
        return self.ff(self.norm3(x)) + x


class FrameTransformer(nn.Module):
    """LatentSync's ``Transformer3DModel``: GroupNorm (eps 1e-6) and 1x1 conv projections per frame around
    one :class:`AudioTransformerBlock`; audio ``(B*F, S, D)`` in (b f) order; residual around it all."""

    def __init__(self, channels: int, heads: int, groups: int, cross_attention_dim: int, add_audio_layer: bool):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} attention heads")
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList(
            [AudioTransformerBlock(channels, heads, cross_attention_dim, add_audio_layer)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, audio: torch.Tensor | None) -> torch.Tensor:
        b = x.shape[0]
        residual = fold_frames(x)
        bf, c, h, w = residual.shape
        y = self.proj_in(self.norm(residual)).permute(0, 2, 3, 1).reshape(bf, h * w, c)
        for block in self.transformer_blocks:
            y = block(y, audio)
        y = self.proj_out(y.reshape(bf, h, w, c).permute(0, 3, 1, 2).contiguous())
        return unfold_frames(y + residual, b)


class FrameDownsample(Downsample2D):
    """Stride-2 3x3 convolution per frame (state-dict key ``conv``)."""

    def __init__(self, channels: int, padding: int):
        super().__init__(channels, use_conv=True, out_channels=channels, padding=padding, name="op")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unfold_frames(super().forward(fold_frames(x)), x.shape[0])


class FrameUpsample(Upsample2D):
    """Nearest 2x (or to ``size`` = (H, W)) upsampling + 3x3 convolution per frame (key ``conv``)."""

    def __init__(self, channels: int):
        super().__init__(channels, use_conv=True, out_channels=channels)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        return unfold_frames(super().forward(fold_frames(x), output_size=size), x.shape[0])


class UNetBlock3D(nn.Module):
    """One down / mid / up level: ``resnets`` [+ ``attentions``] [+ ``motion_modules``] [+ resampler].

    Per layer: resnet -> frame transformer (if any) -> motion module (if any); up blocks first concatenate
    the skip tensor. The mid block (``kind='mid'``) starts with an extra resnet and runs transformer ->
    motion module -> resnet per layer."""

    def __init__(self, kind: str, resnet_io: list[tuple[int, int]], c: int, cfg: LatentSyncUNetConfig,
                 heads: int, with_attention: bool, with_motion: bool, resample: bool, scale: float = 1.0):
        super().__init__()
        temb, per_frame = cfg.block_out_channels[0] * 4, cfg.use_inflated_groupnorm
        n_layers = len(resnet_io) - (kind == "mid")
        self.kind = kind
        self.resnets = nn.ModuleList([ResnetBlock3D(i, o, temb, cfg.norm_num_groups, cfg.norm_eps, scale, per_frame)
                                      for i, o in resnet_io])
        self.attentions = nn.ModuleList([
            FrameTransformer(c, heads, cfg.norm_num_groups, cfg.cross_attention_dim, cfg.add_audio_layer)
            for _ in range(n_layers)]) if with_attention else None
        self.motion_modules = nn.ModuleList(
            [MotionModule(c, cfg.motion) for _ in range(n_layers)]) if with_motion else None
        self.downsamplers = nn.ModuleList([FrameDownsample(c, cfg.downsample_padding)]) \
            if resample and kind == "down" else None
        self.upsamplers = nn.ModuleList([FrameUpsample(c)]) if resample and kind == "up" else None
        self.gradient_checkpointing = False

    def forward(self, x, temb, audio, skips=None, upsample_size=None):
        gc, outputs = self.gradient_checkpointing, []
        resnets = list(self.resnets)
        if self.kind == "mid":
            x = _call(gc, resnets.pop(0), x, temb)
        for i, resnet in enumerate(resnets):
            if self.kind == "up":
                x = torch.cat([x, skips.pop()], dim=1)
            if self.kind != "mid":
                x = _call(gc, resnet, x, temb)
            if self.attentions is not None:
                x = _call(gc, self.attentions[i], x, audio)
            if self.motion_modules is not None:
                x = _call(gc, self.motion_modules[i], x)
            if self.kind == "mid":
                x = _call(gc, resnet, x, temb)
            outputs.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            outputs.append(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, upsample_size)
        return x, outputs


class LatentSyncUNet3D(nn.Module):
    """LatentSync's ``UNet3DConditionModel`` (see the module docstring); build with
    :func:`from_latentsync_config` or ``LatentSyncUNet3D(LatentSyncUNetConfig(...))``."""

    def __init__(self, config: LatentSyncUNetConfig):
        super().__init__()
        self.config = cfg = config
        boc, heads, mm = cfg.block_out_channels, cfg.attention_head_dim, cfg.use_motion_module
        n = len(boc)
        self.conv_in = FrameConv2d(cfg.in_channels, boc[0], 3, padding=1)
        self.time_proj = Timesteps(boc[0], cfg.flip_sin_to_cos, cfg.freq_shift)
        self.time_embedding = TimestepEmbedding(boc[0], boc[0] * 4)

        self.down_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg.down_block_types):
            cin, c = boc[max(i - 1, 0)], boc[i]
            io = [(cin if j == 0 else c, c) for j in range(cfg.layers_per_block)]
            motion = mm and 2 ** i in cfg.motion_module_resolutions and not cfg.motion_module_decoder_only
            self.down_blocks.append(UNetBlock3D("down", io, c, cfg, heads[i], _DOWN_TYPES[kind], motion, i < n - 1))

        self.mid_block = UNetBlock3D("mid", [(boc[-1], boc[-1])] * 2, boc[-1], cfg, heads[-1], True,
                                     mm and cfg.motion_module_mid_block, False, cfg.mid_block_scale_factor)

        rev, rev_heads = boc[::-1], heads[::-1]
        self.up_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg.up_block_types):
            prev, c, skip_in = rev[max(i - 1, 0)], rev[i], rev[min(i + 1, n - 1)]
            layers = cfg.layers_per_block + 1
            io = [((prev if j == 0 else c) + (skip_in if j == layers - 1 else c), c) for j in range(layers)]
            motion = mm and 2 ** (3 - i) in cfg.motion_module_resolutions  # LatentSync's 2**(3-i), for any depth
            self.up_blocks.append(UNetBlock3D("up", io, c, cfg, rev_heads[i], _UP_TYPES[kind], motion, i < n - 1))

        self.conv_norm_out = VideoGroupNorm(cfg.norm_num_groups, boc[0], cfg.norm_eps, cfg.use_inflated_groupnorm)
        self.conv_act = nn.SiLU()
        self.conv_out = FrameConv2d(boc[0], cfg.out_channels, 3, padding=1)
        for conv in (self.conv_in, self.conv_out):  # zero-initialised in LatentSync
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    @property
    def dtype(self) -> torch.dtype:
        return self.time_embedding.linear_1.weight.dtype

    def enable_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Checkpoint every resnet, frame transformer and motion module (down, mid and up blocks)."""
        for block in [*self.down_blocks, self.mid_block, *self.up_blocks]:
            block.gradient_checkpointing = enabled

    def disable_gradient_checkpointing(self) -> None:
        self.enable_gradient_checkpointing(False)

    @property
    def is_gradient_checkpointing(self) -> bool:
        return self.mid_block.gradient_checkpointing

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float,
                encoder_hidden_states: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C_in, F, H, W)``, timestep(s), audio ``(B*F, S, D)`` / ``(B, F, S, D)`` / None ->
        ``(B, C_out, F, H, W)``."""
        if sample.dim() != 5 or sample.shape[1] != self.config.in_channels:
            raise ValueError(f"sample: expected (B, {self.config.in_channels}, F, H, W), got {tuple(sample.shape)}")
        b, _, f, h, w = sample.shape
        audio = encoder_hidden_states
        if audio is not None:
            if audio.dim() == 4 and tuple(audio.shape[:2]) == (b, f):
                audio = audio.reshape(b * f, *audio.shape[2:])
            if audio.dim() != 3 or audio.shape[0] != b * f:
                raise ValueError(f"encoder_hidden_states: expected (B*F, S, D) = ({b * f}, S, D) in (b f) order "
                                 f"or (B, F, S, D), got {tuple(encoder_hidden_states.shape)}")
        if self.config.center_input_sample:
            sample = 2 * sample - 1.0

        t = timestep
        if not torch.is_tensor(t):
            t = torch.tensor([t], dtype=torch.float64 if isinstance(t, float) else torch.int64)
        t = t.reshape(-1).to(sample.device)
        if t.numel() not in (1, b):
            raise ValueError(f"timestep: expected one value or B = {b}, got {tuple(timestep.shape)}")
        t = t.expand(b)
        temb = self.time_embedding(self.time_proj(t).to(self.dtype))

        x = self.conv_in(sample)
        skips = [x]
        for block in self.down_blocks:
            x, outs = block(x, temb, audio)
            skips += outs
        x, _ = self.mid_block(x, temb, audio)

        factor = 2 ** sum(blk.upsamplers is not None for blk in self.up_blocks)
        force_size = h % factor != 0 or w % factor != 0
        for block in self.up_blocks:
            n_res = len(block.resnets)
            block_skips, skips = skips[-n_res:], skips[:-n_res]
            size = tuple(skips[-1].shape[-2:]) if force_size and block.upsamplers is not None else None
            x, _ = block(x, temb, audio, skips=block_skips, upsample_size=size)

        return self.conv_out(self.conv_act(self.conv_norm_out(x)))
