"""Plain ``nn.Module`` networks (no Lightning): the two SyncNet expert architectures.

Every SyncNet here exposes the same small interface so the Lightning module,
the sync scorer and evaluation can use either one:

- ``embed_audio(audio)``: ``(B, F, 4T)`` features -> ``(B, D)`` embeddings
- ``embed_video(video)``: ``(B, T, 3, H, W)`` float frames in 0..255 -> ``(B, D)``
- ``distance_kind``: ``"cosine"`` or ``"euclidean"`` (see :func:`embedding_distance`)
- ``init_kwargs``: the constructor arguments, saved in checkpoints to rebuild the net
"""

from lipsync_train.networks.stable_syncnet import StableSyncNet, embedding_distance
from lipsync_train.networks.syncnet_v2 import SyncNetV2

__all__ = ["StableSyncNet", "SyncNetV2", "embedding_distance"]
