"""SyncNet expert in the style of LatentSync's StableSyncNet.

An audio tower reads a log-mel window ``(B, 1, n_mels, 4T)`` and a visual tower
reads the lower half of ``T`` aligned faces ``(B, T, 3, H/2, W)``; both end in a
``D``-dim embedding and the pair is scored by cosine similarity (trained with BCE
by :mod:`lipsync_train.modules.syncnet_module`).
Towers are small residual conv stacks whose widths come from config, so the
default experiment trains on a 2-core CPU while a GPU run can widen them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def embedding_distance(audio_emb: torch.Tensor, video_emb: torch.Tensor, kind: str) -> torch.Tensor:
    """(B, D), (B, D) -> (B,) distance: ``1 - cos`` for ``cosine``, L2 for ``euclidean`` (syncnet_python's)."""
    if kind == "cosine":
        return 1.0 - F.cosine_similarity(audio_emb, video_emb, dim=-1)
    if kind == "euclidean":
        return F.pairwise_distance(audio_emb, video_emb)
    raise ValueError(f"distance kind {kind!r}: expected 'cosine' or 'euclidean'")


class DownBlock(nn.Module):
    """Strided conv (halves H, W) followed by a residual conv, each with BatchNorm + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int] = (2, 2)):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))
        self.res = nn.Sequential(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return F.relu(x + self.res(x))


class ConvTower(nn.Module):
    """Strided stem + one :class:`DownBlock` per channel entry: (N, c_in, H, W) -> (N, C, h, w).

    ``strides`` has one entry for the stem and one per block.
    """

    def __init__(self, c_in: int, channels: list[int], strides: list[tuple[int, int]]):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(c_in, channels[0], 3, strides[0], 1, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU(True))
        self.blocks = nn.Sequential(*[DownBlock(a, b, st) for a, b, st in
                                      zip([channels[0]] + channels[:-1], channels, strides[1:])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class TemporalHead(nn.Module):
    """(B, C, T) per-frame features -> two temporal convs -> flatten -> (B, embed_dim).

    Flattening (not pooling) over T keeps the order of events in the window, which is
    exactly what distinguishes an in-sync pair from a shifted one.
    """

    def __init__(self, c_in: int, hidden: int, n_frames: int, embed_dim: int):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(c_in, hidden, 3, 1, 1, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Conv1d(hidden, hidden, 3, 1, 1, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(True))
        self.proj = nn.Linear(hidden * n_frames, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(x).flatten(1))


class StableSyncNet(nn.Module):
    """Mel + lower-half-face SyncNet with cosine-similarity scoring.

    Unlike LatentSync, which stacks the 16 frames on the channel axis of one 2D CNN,
    each face is encoded by a shared 2D CNN and the audio CNN strides time down to one
    step per video frame; both sequences then meet temporal convolutions. On our CPU
    budget this learns sync several times faster (the first conv no longer has to
    squeeze 48 channels of 16 frames into a few feature maps).
    """

    distance_kind = "cosine"

    def __init__(
        self,
        n_frames: int = 16,
        image_size: int = 64,
        n_mels: int = 80,
        embed_dim: int = 128,
        video_channels: list[int] | tuple[int, ...] = (8, 16, 32, 64),
        audio_channels: list[int] | tuple[int, ...] = (16, 32, 64, 64),
        temporal_channels: int = 128,
    ):
        super().__init__()
        self.init_kwargs = dict(n_frames=n_frames, image_size=image_size, n_mels=n_mels, embed_dim=embed_dim,
                                video_channels=list(video_channels), audio_channels=list(audio_channels),
                                temporal_channels=temporal_channels)
        self.n_frames, self.image_size, self.n_mels = n_frames, image_size, n_mels
        self.video_tower = ConvTower(3, list(video_channels), [(2, 2)] * (len(video_channels) + 1))
        # audio: 4 steps per frame -> the stem and first block halve time, later blocks only frequency
        self.audio_tower = ConvTower(1, list(audio_channels), [(2, 2), (2, 2)] + [(2, 1)] * (len(audio_channels) - 1))
        self.video_head = TemporalHead(video_channels[-1], temporal_channels, n_frames, embed_dim)
        self.audio_head = TemporalHead(audio_channels[-1], temporal_channels, n_frames, embed_dim)

    def embed_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H/2, W) float 0..255 lower-half faces -> (B, D)."""
        b, t, c, h, w = video.shape
        if t != self.n_frames or h != self.image_size // 2 or w != self.image_size:
            raise ValueError(f"StableSyncNet expects video (B, {self.n_frames}, 3, {self.image_size // 2}, "
                             f"{self.image_size}), got {tuple(video.shape)}")
        x = video.reshape(b * t, c, h, w) / 127.5 - 1.0  # (B*T, 3, H/2, W) in [-1, 1]
        x = self.video_tower(x).mean(dim=(2, 3))  # (B*T, C)
        return self.video_head(x.unflatten(0, (b, t)).transpose(1, 2))  # (B, C, T) -> (B, D)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, 4T) log-mel -> (B, D)."""
        if audio.shape[1] != self.n_mels or audio.shape[2] != 4 * self.n_frames:
            raise ValueError(f"StableSyncNet expects audio (B, {self.n_mels}, {4 * self.n_frames}), got {tuple(audio.shape)}")
        x = self.audio_tower(audio.unsqueeze(1)).mean(dim=2)  # (B, C, T): frequency pooled, time kept
        return self.audio_head(x)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """-> (B,) cosine distance between the audio and video embeddings."""
        return embedding_distance(self.embed_audio(audio), self.embed_video(video), self.distance_kind)
