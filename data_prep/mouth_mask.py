"""The mouth mask: which part of an aligned face the UNet regenerates.

Every training and inference frame is aligned to ``data_prep.face_align.FACE_TEMPLATE``,
so the mouth sits at the same pixels in every frame and one fixed mask serves
them all (as in LatentSync, where the mask is a fixed lower-face image). The
default region is derived from the template: from just below the nose tip
(template point 2, y = 0.612, minus a small margin; the nose tip at 0.593 stays outside) down to
the bottom of the crop (the jaw moves with speech), and sideways well past the
mouth corners (points 61 / 291) so cheeks that move with the jaw are included.

- :func:`mouth_mask`: hard (S, S) pixel mask, 1 = regenerate, 0 = keep;
- :func:`latent_mask`: the same region at latent resolution, for the UNet's mask channel;
- :func:`soft_mask`: a feathered version for pasting generated pixels back.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from data_prep.face_align import FACE_TEMPLATE

_NOSE_Y = FACE_TEMPLATE[2][1]  # subnasale
_MOUTH_LEFT_X, _MOUTH_RIGHT_X = FACE_TEMPLATE[61][0], FACE_TEMPLATE[291][0]


@dataclass(frozen=True)
class MouthRegion:
    """A box in the unit square of the aligned crop (fractions of the side)."""

    top: float = round(_NOSE_Y - 0.01, 3)  # 0.602: just under the nose tip, so the whole upper lip moves
    bottom: float = 1.0
    left: float = round(_MOUTH_LEFT_X - 0.17, 3)  # 0.183
    right: float = round(_MOUTH_RIGHT_X + 0.17, 3)  # 0.817

    def __post_init__(self):
        if not (0 <= self.top < self.bottom <= 1 and 0 <= self.left < self.right <= 1):
            raise ValueError(f"mouth region {self}: expected 0 <= top < bottom <= 1 and 0 <= left < right <= 1")


def mouth_mask(size: int, region: MouthRegion | None = None) -> np.ndarray:
    """-> (size, size) float32, 1 inside the mouth region (pixels to generate), 0 elsewhere."""
    r = region or MouthRegion()
    mask = np.zeros((size, size), np.float32)
    y0, y1 = int(round(r.top * size)), int(round(r.bottom * size))
    x0, x1 = int(round(r.left * size)), int(round(r.right * size))
    mask[y0:y1, x0:x1] = 1.0
    return mask


def latent_mask(size: int, downsample: int, region: MouthRegion | None = None) -> torch.Tensor:
    """-> (1, 1, size // downsample, size // downsample) float: a latent cell is masked if any of its pixels is."""
    pixels = torch.from_numpy(mouth_mask(size, region))[None, None]  # (1, 1, S, S)
    return F.max_pool2d(pixels, downsample)


def soft_mask(size: int, region: MouthRegion | None = None, feather: float = 0.04) -> np.ndarray:
    """-> (size, size) float32 in [0, 1]: the mouth mask shrunk and blurred by ``feather`` x size pixels."""
    mask = mouth_mask(size, region)
    px = max(1, int(round(feather * size)))
    mask = cv2.erode(mask, np.ones((px, px), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=px / 2)
