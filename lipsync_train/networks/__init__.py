"""Plain ``nn.Module`` networks (no Lightning): the SyncNet expert architectures and their interface.

Every SyncNet here exposes the same small interface so the Lightning module,
the sync scorer, the sync loss and evaluation can use any of them:

- ``embed_audio(audio)``: native audio input -> ``(B, D)`` embeddings
- ``embed_video(video)``: native video input -> ``(B, D)``
- ``distance_kind``: ``"cosine"`` or ``"euclidean"`` (see :func:`embedding_distance`)
- ``init_kwargs``: the constructor arguments, saved in checkpoints to rebuild the net
- optional ``window_video(video)``: our window ``(B, T, 3, h, w)`` float 0..255 (``prepare_frames``'
  crop and channel order) -> the native video input; identity when absent (StableSyncNet, SyncNetV2)
- optional ``window_audio(audio)``: our audio window ``(B, F, L)`` (``audio_features.audio_window``)
  -> the native audio input; identity when absent
- optional ``cosine_is_probability = True``: the cosine of the two embeddings is itself the sync
  probability, trained with BCE on it (LatentSync's StableSyncNet, whose embeddings end in a ReLU)

Consumers apply the hooks through :mod:`lipsync_train.networks.sync_windows`.
"""

from lipsync_train.networks.stable_syncnet import StableSyncNet, embedding_distance
from lipsync_train.networks.sync_windows import embed_windows, native_audio, native_video
from lipsync_train.networks.syncnet_v2 import SyncNetV2

__all__ = ["StableSyncNet", "SyncNetV2", "embed_windows", "embedding_distance", "native_audio", "native_video"]
