"""The syncnet_v2 architecture (Chung & Zisserman, "Out of time", 2016) with the official key names.

The LSE-C / LSE-D protocol scores videos with ``syncnet_v2.model`` from
syncnet_python: 13 MFCCs x 20 steps (0.2 s) against 5 frames of 224x224 BGR
faces, both mapped to 1024-d embeddings compared by Euclidean distance. This
module rebuilds that network layer for layer so that ``state_dict()`` keys and
shapes equal the official file's (``netcnnaud.*``, ``netfcaud.*``,
``netcnnlip.*``, ``netfclip.*``): an Arabic evaluator trained here can be
exported and read by the official scorer, and the official weights load here.
The ``nn.Sequential`` indices are part of that contract, so layers (including
parameter-free ReLU / pooling) must stay in this exact order.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(conv: nn.Module, bn: nn.Module, inplace: bool = True) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=inplace)]


def audio_cnn() -> nn.Sequential:
    """(B, 1, 13, 20) MFCC -> (B, 512, 1, 1); 21 modules, official indices 0..20."""
    return nn.Sequential(
        *_conv_bn_relu(nn.Conv2d(1, 64, 3, 1, 1), nn.BatchNorm2d(64)),
        nn.MaxPool2d(1, 1),
        *_conv_bn_relu(nn.Conv2d(64, 192, 3, 1, 1), nn.BatchNorm2d(192)),
        nn.MaxPool2d(3, (1, 2)),  # (B, 192, 11, 9)
        *_conv_bn_relu(nn.Conv2d(192, 384, 3, padding=1), nn.BatchNorm2d(384)),
        *_conv_bn_relu(nn.Conv2d(384, 256, 3, padding=1), nn.BatchNorm2d(256)),
        *_conv_bn_relu(nn.Conv2d(256, 256, 3, padding=1), nn.BatchNorm2d(256)),
        nn.MaxPool2d(3, 2),  # (B, 256, 5, 4)
        *_conv_bn_relu(nn.Conv2d(256, 512, (5, 4)), nn.BatchNorm2d(512), inplace=False),
    )


def lip_cnn() -> nn.Sequential:
    """(B, 3, 5, 224, 224) BGR 0..255 -> (B, 512, 1, 1, 1); 21 modules, official indices 0..20."""
    return nn.Sequential(
        *_conv_bn_relu(nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2)), nn.BatchNorm3d(96)),  # (B, 96, 1, 109, 109)
        nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
        *_conv_bn_relu(nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(256)),
        nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),  # (B, 256, 1, 13, 13)
        *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        nn.MaxPool3d((1, 3, 3), (1, 2, 2)),  # (B, 256, 1, 6, 6)
        *_conv_bn_relu(nn.Conv3d(256, 512, (1, 6, 6)), nn.BatchNorm3d(512)),
    )


def fc_head(embed_dim: int) -> nn.Sequential:
    """(B, 512) -> (B, embed_dim): Linear, BatchNorm1d, ReLU, Linear (official indices 0..3)."""
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim))


class SyncNetV2(nn.Module):
    """syncnet_v2: MFCC audio tower + 3D-conv lip tower, Euclidean distance between 1024-d embeddings."""

    distance_kind = "euclidean"

    def __init__(self, embed_dim: int = 1024, n_frames: int = 5, image_size: int = 224, n_mfcc: int = 13):
        super().__init__()
        if (n_frames, image_size, n_mfcc) != (5, 224, 13):
            raise ValueError(f"syncnet_v2 is fixed at 5 frames, 224 px and 13 MFCCs; got n_frames={n_frames}, "
                             f"image_size={image_size}, n_mfcc={n_mfcc}")
        self.init_kwargs = dict(embed_dim=embed_dim, n_frames=n_frames, image_size=image_size, n_mfcc=n_mfcc)
        self.n_frames, self.image_size, self.n_mels = n_frames, image_size, n_mfcc
        self.netcnnaud = audio_cnn()
        self.netfcaud = fc_head(embed_dim)
        self.netcnnlip = lip_cnn()
        self.netfclip = fc_head(embed_dim)

    # --- the official entry points (same inputs as syncnet_python) ---------
    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 13, 20) -> (B, embed_dim)."""
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 5, 224, 224) BGR 0..255 -> (B, embed_dim)."""
        return self.netfclip(self.netcnnlip(x).flatten(1))

    # --- the interface shared with StableSyncNet ---------------------------
    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, 13, 20) MFCC -> (B, embed_dim)."""
        return self.forward_aud(audio.unsqueeze(1))

    def embed_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 5, 3, 224, 224) float 0..255, channels already in BGR order -> (B, embed_dim)."""
        if tuple(video.shape[1:]) != (self.n_frames, 3, self.image_size, self.image_size):
            raise ValueError(f"SyncNetV2 expects video (B, 5, 3, 224, 224), got {tuple(video.shape)}")
        return self.forward_lip(video.permute(0, 2, 1, 3, 4))  # (B, 3, 5, 224, 224)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """-> (B,) Euclidean distance between the audio and video embeddings."""
        return torch.nn.functional.pairwise_distance(self.embed_audio(audio), self.embed_video(video))
