"""VideoMAE-v2 video encoder (the ViT-g/14 that LatentSync's TREPA loss reads) on transformers' VideoMAE classes.

LatentSync's TREPA (``losses/trepa.py``) embeds 16-frame clips with OpenGVLab's VideoMAE-v2 ViT-g/14, fine-tuned
on Something-Something v2 (``vit_g_hybrid_pt_1200e_ssv2_ft.pth``), and compares the pooled features. Most of
that network is ``transformers.VideoMAEModel``, checked piece by piece against OpenGVLab's ``VisionTransformer``:

- tubelet embedding: one ``Conv3d`` with kernel = stride = (tubelet 2, patch 14, patch 14); tokens in
  (time, row, column) order;
- the fixed sinusoidal position table, computed the same way (float64 in numpy, then float32) and added to
  every token; LatentSync's trilinear re-sampling of that table is a no-op at its 16 frames;
- pre-norm blocks (LayerNorm eps 1e-6, attention, LayerNorm, GELU MLP of width 6144 = 1408 x 48/11), attention
  with a bias on queries and values only (OpenGVLab's fused ``qkv`` with ``[q_bias, 0, v_bias]``), softmax
  scale head_dim ** -0.5, no layer scale (the checkpoint has ``init_values`` 0, so no ``gamma_1/2``);
- with mean pooling there is no final LayerNorm on the tokens.

What no library has, and is written here: the pooled output (``fc_norm(tokens.mean(1))``, OpenGVLab's
``forward_features``; transformers keeps that norm in ``VideoMAEForVideoClassification`` with LayerNorm's
default eps 1e-5, not the checkpoint's 1e-6, so it is a module of its own here), the key converter from the
OpenGVLab checkpoint layout (:func:`convert_opengvlab_state_dict`), gradient checkpointing per block while the
frozen encoder stays in eval mode, and the loader (hub id / URL / path, ``weights_only=True``, strict).

Inputs are ``(B, T, 3, S, S)`` pixels in [0, 1] (no mean / std normalisation: LatentSync feeds them so).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from data_prep.pretrained import resolve_pretrained

log = logging.getLogger(__name__)

VIT_G_FILE = "vit_g_hybrid_pt_1200e_ssv2_ft.pth"
VIT_G_URL = f"https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/internvideo/videomaev2/{VIT_G_FILE}"
VIT_G_HUB_FILE = f"auxiliary/{VIT_G_FILE}"  # where LatentSync fetches it: ByteDance/LatentSync-1.5

# VideoMAEConfig fields of OpenGVLab's vit_giant_patch14_224 as LatentSync builds it (load_videomae_model)
VIT_G_14 = dict(image_size=224, patch_size=14, num_channels=3, num_frames=16, tubelet_size=2, hidden_size=1408,
                num_hidden_layers=40, num_attention_heads=16, intermediate_size=6144, hidden_act="gelu",
                layer_norm_eps=1e-6, qkv_bias=True, use_mean_pooling=True, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0)

# checkpoint tensors that the features do not read: SSv2's 174-way classifier after fc_norm
UNUSED_KEYS = ("head.weight", "head.bias")


class VideoMAEv2Encoder(nn.Module):
    """(B, T, 3, S, S) in [0, 1] -> (B, D) pooled features, OpenGVLab's ``forward_features``."""

    def __init__(self, config: dict[str, Any] | None = None, gradient_checkpointing: bool = False):
        super().__init__()
        from transformers import VideoMAEConfig, VideoMAEModel

        fields = {**VIT_G_14, **(config or {})}
        if not fields["use_mean_pooling"] or not fields["qkv_bias"]:
            raise ValueError("VideoMAE-v2 encoder: only the mean-pooled, q/v-bias variant (LatentSync's ViT-g) "
                             f"is supported, got use_mean_pooling={fields['use_mean_pooling']}, "
                             f"qkv_bias={fields['qkv_bias']}")
        self.config = fields
        self.videomae = VideoMAEModel(VideoMAEConfig(**fields))
        self.fc_norm = nn.LayerNorm(fields["hidden_size"], eps=fields["layer_norm_eps"])
        self.gradient_checkpointing = gradient_checkpointing

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def num_frames(self) -> int:
        return int(self.config["num_frames"])

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        t, h, w = video.shape[1], video.shape[-2], video.shape[-1]
        if (t, h, w) != (self.num_frames, self.image_size, self.image_size):
            raise ValueError(f"VideoMAE-v2 encoder: expected (B, {self.num_frames}, 3, {self.image_size}, "
                             f"{self.image_size}) clips (its position table is fixed), got {tuple(video.shape)}")
        tokens = self.videomae.embeddings(video, None)  # (B, N, D), N = T/2 * (S/14)^2
        for layer in self.videomae.encoder.layer:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                tokens = checkpoint(layer, tokens, use_reentrant=False)
            else:
                tokens = layer(tokens)
            tokens = tokens[0] if isinstance(tokens, tuple) else tokens  # transformers 4.x layers return tuples
        return self.fc_norm(tokens.mean(1))  # (B, D)


def convert_opengvlab_state_dict(state: dict[str, torch.Tensor], ours: dict[str, torch.Tensor],
                                 source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """OpenGVLab VideoMAE-v2 keys -> this module's keys (``ours``: its state dict, for names and shapes).

    Every checkpoint tensor is consumed (``UNUSED_KEYS`` are the classifier the features never read) and every
    tensor of ours is filled; anything left over on either side, or a shape that differs, is an error that names
    the keys. The fused ``qkv`` weight splits into query / key / value; ``q_bias`` / ``v_bias`` go to the query /
    value biases (transformers 5) or to ``q_bias`` / ``v_bias`` parameters (transformers 4).
    """
    prefix = "videomae.encoder.layer."
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    direct = {"patch_embed.proj.weight": "videomae.embeddings.patch_embeddings.projection.weight",
              "patch_embed.proj.bias": "videomae.embeddings.patch_embeddings.projection.bias",
              "fc_norm.weight": "fc_norm.weight", "fc_norm.bias": "fc_norm.bias"}
    renames = {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
               "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    for key, value in state.items():
        if key in UNUSED_KEYS:
            continue
        if key in direct:
            out[direct[key]] = value
            continue
        parts = key.split(".")
        if parts[0] != "blocks" or len(parts) < 4 or not parts[1].isdigit():
            unknown.append(key)
            continue
        block, rest = f"{prefix}{parts[1]}.", ".".join(parts[2:])
        attn = f"{block}attention.attention."
        if rest == "attn.qkv.weight":
            for name, chunk in zip(("query", "key", "value"), value.chunk(3, dim=0)):
                out[f"{attn}{name}.weight"] = chunk
        elif rest in ("attn.q_bias", "attn.v_bias"):
            legacy = f"{attn}{rest[5:]}"  # transformers 4.x: q_bias / v_bias parameters
            out[legacy if legacy in ours else f"{attn}{'query' if rest[5] == 'q' else 'value'}.bias"] = value
        else:
            module, _, leaf = rest.rpartition(".")
            if module not in renames:
                unknown.append(key)
                continue
            out[f"{block}{renames[module]}.{leaf}"] = value
    missing = sorted(set(ours) - set(out))
    unknown += sorted(set(out) - set(ours))
    wrong = [f"{k} {tuple(out[k].shape)} vs {tuple(ours[k].shape)}" for k in sorted(set(out) & set(ours))
             if out[k].shape != ours[k].shape]
    if missing or unknown or wrong:
        raise ValueError(f"{source}: not the VideoMAE-v2 layout of this encoder config: missing {missing[:6]}"
                         f"{' ...' if len(missing) > 6 else ''}; not used {unknown[:6]}; shapes differ {wrong[:4]}")
    return out


def _checkpoint_file(path: Path) -> Path:
    if path.is_file():
        return path
    for candidate in (path / VIT_G_FILE, path / VIT_G_HUB_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{path}: a folder without {VIT_G_FILE} or {VIT_G_HUB_FILE}")


def load_videomae_v2(weights: str | Path, setting: str = "model.trepa_weights", config: dict[str, Any] | None = None,
                     gradient_checkpointing: bool = False) -> VideoMAEv2Encoder:
    """A VideoMAE-v2 checkpoint in OpenGVLab's layout (file path, folder, URL, or a hub repo holding
    ``auxiliary/vit_g_hybrid_pt_1200e_ssv2_ft.pth`` such as ``ByteDance/LatentSync-1.5``) -> a frozen encoder.

    The model is built on the meta device and takes the checkpoint's tensors as they are (strict, ``assign``):
    no random ViT-g is initialised only to be overwritten. The fixed position table stays a CPU tensor.
    """
    path = _checkpoint_file(resolve_pretrained(weights, setting, files=[VIT_G_HUB_FILE]))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("model", "module"):  # OpenGVLab saves {"model": ...} or {"module": ...}
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    with torch.device("meta"):
        encoder = VideoMAEv2Encoder(config, gradient_checkpointing)
    ours = encoder.state_dict()
    converted = convert_opengvlab_state_dict(state, ours, f"{setting}={weights} ({path})")
    converted = {k: v.to(ours[k].dtype).contiguous() for k, v in converted.items()}
    encoder.load_state_dict(converted, strict=True, assign=True)
    leftover = [n for n, t in [*encoder.named_parameters(), *encoder.named_buffers()] if t.is_meta]
    if leftover:
        raise ValueError(f"{setting}={weights}: tensors not filled by the checkpoint: {leftover[:6]}")
    log.info("VideoMAE-v2 encoder from %s: %d tensors", path, len(converted))
    return encoder.eval().requires_grad_(False)
