"""Run syncnet_v2's lip tower as 2-D convolutions in channels-last layout: same numbers, less time.

On a CPU the lip tower is almost all of LSE's cost. Its first layer is a
Conv3d with a 5-frame temporal kernel applied to exactly 5 frames, so its
output has depth 1 and every later layer has temporal kernel 1: the whole
tower is a 2-D network on ``(B, 3*5, 224, 224)`` (channel ``c*5 + t``). oneDNN
runs 2-D convolutions in channels-last layout markedly faster than the 3-D
ones, which is the main CPU gain of :mod:`evaluation.metrics.lse_runner`. The weights
are *views* of the loaded model's (``reshape`` of the Conv3d kernels), so this
is a different execution of the same network, not a second copy of it; the
results differ from the 3-D path only by float32 summation order (about 1e-6
on embeddings of norm ~1, checked in ``tests/test_eval_lse.py``).

Models without an ``nn.Sequential`` ``netcnnlip`` of that shape (test
stand-ins) are run through their own ``forward_lip``.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


def _pool2d(pool: nn.MaxPool3d) -> nn.MaxPool2d:
    def hw(v):
        return tuple(v[1:]) if isinstance(v, tuple) else (v, v)
    if (pool.kernel_size[0] if isinstance(pool.kernel_size, tuple) else pool.kernel_size) != 1:
        raise ValueError("temporal pooling cannot be flattened")
    return nn.MaxPool2d(hw(pool.kernel_size), hw(pool.stride), hw(pool.padding), ceil_mode=pool.ceil_mode)


def _conv2d(conv: nn.Conv3d, first: bool) -> nn.Conv2d:
    kd = conv.kernel_size[0]
    if conv.padding[0] != 0 or (not first and kd != 1) or conv.groups != 1:
        raise ValueError("conv does not collapse the temporal axis")
    out = nn.Conv2d(conv.in_channels * kd, conv.out_channels, conv.kernel_size[1:], conv.stride[1:],
                    conv.padding[1:], dilation=conv.dilation[1:], bias=conv.bias is not None)
    out.weight = nn.Parameter(conv.weight.detach().reshape(conv.out_channels, -1, *conv.kernel_size[1:]),
                              requires_grad=False)  # (O, C*kd, kh, kw): channel c*kd + t
    if conv.bias is not None:
        out.bias = nn.Parameter(conv.bias.detach(), requires_grad=False)
    return out


def flatten_lip_tower(tower: nn.Sequential) -> nn.Sequential:
    """syncnet_v2's ``netcnnlip`` (Conv3d/BatchNorm3d/ReLU/MaxPool3d) -> the equivalent 2-D tower."""
    layers: list[nn.Module] = []
    for i, layer in enumerate(tower):
        if isinstance(layer, nn.Conv3d):
            layers.append(_conv2d(layer, first=i == 0))
        elif isinstance(layer, nn.BatchNorm3d):
            bn = nn.BatchNorm2d(layer.num_features, layer.eps, layer.momentum, layer.affine)
            bn.load_state_dict(layer.state_dict())
            layers.append(bn)
        elif isinstance(layer, nn.MaxPool3d):
            layers.append(_pool2d(layer))
        elif isinstance(layer, nn.ReLU):
            layers.append(nn.ReLU(inplace=layer.inplace))
        else:
            raise ValueError(f"layer {i} ({type(layer).__name__}) has no 2-D equivalent here")
    return nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)


class SyncNetRunner(nn.Module):
    """Drop-in for a syncnet_v2 in evaluation: ``forward_lip`` / ``forward_aud`` with the official inputs."""

    def __init__(self, model: nn.Module, flatten: bool = True):
        super().__init__()
        self.model = model.eval()
        self.lip2d = None
        tower = getattr(model, "netcnnlip", None)
        if flatten and isinstance(tower, nn.Sequential) and hasattr(model, "netfclip"):
            try:
                self.lip2d = flatten_lip_tower(tower).to(next(model.parameters()).device)
            except ValueError as exc:
                log.info("lip tower kept in 3-D: %s", exc)

    @torch.no_grad()
    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 5, H, W) BGR 0..255 -> (B, D)."""
        if self.lip2d is None:
            return self.model.forward_lip(x)
        b, c, t, h, w = x.shape
        flat = x.reshape(b, c * t, h, w).contiguous(memory_format=torch.channels_last)  # (B, 15, H, W)
        return self.model.netfclip(self.lip2d(flat).flatten(1))

    @torch.no_grad()
    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 13, 20) MFCC -> (B, D)."""
        return self.model.forward_aud(x)
