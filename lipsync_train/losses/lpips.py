"""LPIPS (VGG variant, v0.1) in plain torch: the perceptual loss of LatentSync's stage 2.

The ``lpips`` package builds its VGG16 through torchvision, which does not run
against the CPU torch build of the test machines; the network itself is small
and fixed, so it is written here and reads the *published* weights unchanged:

- the VGG16 feature layers in torchvision's own key names (``features.N.*``), from
  torchvision's ``vgg16-397923af.pth`` (classifier tensors are not used);
- the five linear heads ``linK.model.1.weight`` of lpips' ``weights/v0.1/vgg.pth``.

Both are named by URL, hub id or local path (``data_prep/pretrained.py``). The
maths follows lpips 0.1: inputs in [-1, 1] are shifted and scaled
(ImageNet statistics), features at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3
are unit-normalised along channels, squared differences are weighted by the
linear heads, averaged over space and summed over layers.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from data_prep.pretrained import resolve_pretrained

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
LPIPS_VGG_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
_TAPS = (3, 8, 15, 22, 29)  # indices of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in torchvision's features
_CHANNELS = (64, 128, 256, 512, 512)


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    c = 3
    for v in _CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
            c = v
    return nn.Sequential(*layers)  # indices match torchvision.models.vgg16().features up to relu5_3


class LPIPS(nn.Module):
    """Frozen LPIPS-VGG: (N, 3, H, W) x2 in [-1, 1] -> (N,) perceptual distance."""

    def __init__(self, vgg_weights: str | None = VGG16_URL, lin_weights: str | None = LPIPS_VGG_URL):
        super().__init__()
        self.features = _vgg16_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        if vgg_weights:
            self.load_vgg(resolve_pretrained(vgg_weights, "model.lpips.vgg_weights"))
        if lin_weights:
            self.load_lins(resolve_pretrained(lin_weights, "model.lpips.lin_weights"))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":  # a fixed metric network
        return super().train(False)

    def load_vgg(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        ours = self.features.state_dict()
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        feats = {k: v for k, v in feats.items() if int(k.split(".")[0]) < len(self.features)}
        unused = sorted(k for k in state if not k.startswith(("features.", "classifier.")))
        missing = sorted(f"features.{k}" for k in set(ours) - set(feats))
        if missing or unused:
            raise ValueError(f"{path}: not torchvision's VGG16 layout: missing {missing[:6]}, unexpected {unused[:6]}")
        self.features.load_state_dict(feats, strict=True)

    def load_lins(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        expected = {f"lin{i}.model.1.weight" for i in range(len(self.lins))}
        if set(state) != expected:
            raise ValueError(f"{path}: expected lpips v0.1 VGG heads {sorted(expected)}, got {sorted(state)}")
        for i, lin in enumerate(self.lins):
            lin.weight.data.copy_(state[f"lin{i}.model.1.weight"])

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [], (x - self.shift) / self.scale
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in _TAPS:
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))  # unit length along channels
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for lin, a, b in zip(self.lins, self.taps(x), self.taps(y)):
            total = total + lin((a - b).pow(2)).mean(dim=(2, 3))
        return total.flatten()  # (N,)
