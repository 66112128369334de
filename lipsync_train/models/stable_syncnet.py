"""SyncNet expert in the style of LatentSync's StableSyncNet.

An audio tower reads a log-mel window ``(B, 1, n_mels, 4T)`` and a visual tower
reads the lower half of ``T`` aligned faces stacked on the channel axis
``(B, 3T, H/2, W)``; both end in a ``D``-dim embedding and the pair is scored by
cosine similarity (trained with BCE by :mod:`lipsync_train.syncnet_module`).
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
    """Strided stem, :class:`DownBlock` stack, flatten, linear projection to ``embed_dim``.

    The stem already halves H and W: at full resolution a conv costs 4x more, and
    sync cues (mouth opening, energy envelope) survive the downsampling. The final
    map is flattened rather than average-pooled so the embedding keeps *where* in
    the window (in time, for the audio tower) a feature fired.
    """

    def __init__(self, c_in: int, channels: list[int], embed_dim: int, input_hw: tuple[int, int],
                 strides: list[tuple[int, int]] | None = None):
        super().__init__()
        strides = strides or [(2, 2)] * len(channels)
        self.stem = nn.Sequential(nn.Conv2d(c_in, channels[0], 3, 2, 1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU(True))
        self.blocks = nn.Sequential(*[DownBlock(a, b, st) for a, b, st in zip([channels[0]] + channels[:-1], channels, strides)])
        with torch.no_grad():  # size of the flattened map for this input size
            n_flat = self.blocks(self.stem(torch.zeros(2, c_in, *input_hw))).flatten(1).shape[1]
        self.proj = nn.Linear(n_flat, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))  # (B, C, h, w)
        return self.proj(x.flatten(1))  # (B, D)


class StableSyncNet(nn.Module):
    """Mel + lower-half-face SyncNet with cosine-similarity scoring."""

    distance_kind = "cosine"

    def __init__(
        self,
        n_frames: int = 16,
        image_size: int = 64,
        n_mels: int = 80,
        embed_dim: int = 256,
        video_channels: list[int] | tuple[int, ...] = (32, 64, 128, 256),
        audio_channels: list[int] | tuple[int, ...] = (32, 64, 128, 256),
    ):
        super().__init__()
        self.init_kwargs = dict(n_frames=n_frames, image_size=image_size, n_mels=n_mels, embed_dim=embed_dim,
                                video_channels=list(video_channels), audio_channels=list(audio_channels))
        self.n_frames, self.image_size, self.n_mels = n_frames, image_size, n_mels
        self.video_tower = ConvTower(3 * n_frames, list(video_channels), embed_dim, (image_size // 2, image_size))
        # audio: after two blocks stop halving time, so the envelope keeps 1/4 of its steps
        audio_strides = [(2, 2) if i < 2 else (2, 1) for i in range(len(audio_channels))]
        self.audio_tower = ConvTower(1, list(audio_channels), embed_dim, (n_mels, 4 * n_frames), audio_strides)

    def embed_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H/2, W) float 0..255 lower-half faces -> (B, D)."""
        b, t, c, h, w = video.shape
        if t != self.n_frames or h != self.image_size // 2 or w != self.image_size:
            raise ValueError(f"StableSyncNet expects video (B, {self.n_frames}, 3, {self.image_size // 2}, "
                             f"{self.image_size}), got {tuple(video.shape)}")
        x = video.reshape(b, t * c, h, w) / 127.5 - 1.0  # (B, 3T, H/2, W) in [-1, 1]
        return self.video_tower(x)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, 4T) log-mel -> (B, D)."""
        if audio.shape[1] != self.n_mels or audio.shape[2] != 4 * self.n_frames:
            raise ValueError(f"StableSyncNet expects audio (B, {self.n_mels}, {4 * self.n_frames}), got {tuple(audio.shape)}")
        return self.audio_tower(audio.unsqueeze(1))  # (B, 1, n_mels, 4T) -> (B, D)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """-> (B,) cosine distance between the audio and video embeddings."""
        return embedding_distance(self.embed_audio(audio), self.embed_video(video), self.distance_kind)
