"""Audio-visual offset and confidence of a clip with a trained SyncNet, as syncnet_python defines them.

Used by the dataset pipeline's optional sync filter (``data_prep/workflow/sync_filter.py``)
and by evaluation. :func:`load_sync_scorer` rebuilds the network from a
checkpoint written by ``lipsync-train`` (the checkpoint carries the net class,
its arguments and the window format under ``"sync_net"``) or from a bare
official ``syncnet_v2.model`` state dict. :meth:`SyncScorer.av_offset` follows
syncnet_python: embed every window of video and audio, pad the audio embeddings
with ``max_offset`` zero vectors each side, average the distance at each shift
over the clip; offset = ``max_offset - argmin``, confidence = median - min.
With offset ``k`` the audio belonging to video frame ``t`` is audio frame ``t - k``.
Windows are cut in our format (:func:`data_prep.window_spec.prepare_frames`,
:func:`data_prep.audio_features.audio_window` for the checkpoint's feature kind) and
handed to the net through its window hooks (:mod:`lipsync_train.networks.sync_windows`),
so LatentSync's converted StableSyncNet scores clips like our own experts.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import get_object
from torch import nn

from data_prep.schema import SAMPLES_PER_FRAME
from data_prep.audio_features import audio_window, clip_features, frames_covered
from data_prep.window_spec import WindowSpec, prepare_frames
from lipsync_train.networks import SyncNetV2, embed_windows, embedding_distance

log = logging.getLogger(__name__)

V2_WINDOW = WindowSpec(n_frames=5, image_size=224, crop="full", channel_order="bgr", audio_kind="mfcc", n_audio_bins=13)


class SyncScorer:
    """A SyncNet in eval mode plus the window format it was trained on."""

    def __init__(self, net: nn.Module, window: WindowSpec, device: str = "cpu", batch_size: int = 64,
                 extra_state: dict[str, Any] | None = None, face_template: str = "mesh"):
        self.net, self.window, self.device, self.batch_size = net.eval().to(device), window, device, batch_size
        self.face_template = face_template  # the crop it was trained on (data_prep.face_align): mesh | latentsync
        self.extra_state = extra_state or {}  # checkpoint tensors outside the net (a BCE expert's logit scale / bias)

    @torch.no_grad()
    def window_embeddings(self, frames: np.ndarray, audio: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, S, S, 3) uint8 RGB, (T * 640,) int16 -> video and audio embeddings (N, D) for each window start."""
        n = self.window.n_frames
        t = min(len(frames), len(audio) // SAMPLES_PER_FRAME)
        if t < n:
            raise ValueError(f"clip of {t} frames is shorter than the scorer's window of {n} frames")
        kind = self.window.audio_kind
        feats = torch.from_numpy(clip_features(audio[:t * SAMPLES_PER_FRAME], kind, self.window.n_audio_bins))
        t = min(t, frames_covered(feats.shape[1], kind, n))  # (F, steps) features cover t frames
        video = torch.from_numpy(prepare_frames(frames[:t], self.window))  # (T, 3, h, w) uint8
        starts = range(t - n + 1)
        v_emb, a_emb = [], []
        for i in range(0, len(starts), self.batch_size):
            chunk = starts[i:i + self.batch_size]
            v = torch.stack([video[s:s + n] for s in chunk]).float().to(self.device)  # (B, n, 3, h, w)
            a = torch.stack([audio_window(feats, kind, s, n) for s in chunk]).to(self.device)  # (B, F, L)
            a_batch, v_batch = embed_windows(self.net, v, a)
            v_emb.append(v_batch.float())
            a_emb.append(a_batch.float())
        return torch.cat(v_emb), torch.cat(a_emb)

    def shift_distances(self, frames: np.ndarray, audio: np.ndarray, max_offset: int = 15) -> torch.Tensor:
        """-> (N, 2 max_offset + 1) distance of video window i to audio window i + k - max_offset.

        Audio embeddings beyond the clip are zero vectors, as syncnet_python pads them.
        """
        v, a = self.window_embeddings(frames, audio)  # (N, D) each
        a_pad = F.pad(a, (0, 0, max_offset, max_offset))
        shifts = 2 * max_offset + 1
        idx = torch.arange(len(v))[:, None] + torch.arange(shifts)[None, :]  # (N, shifts)
        return embedding_distance(a_pad[idx], v[:, None, :].expand(-1, shifts, -1), self.net.distance_kind)

    def av_offset(self, frames: np.ndarray, audio: np.ndarray, max_offset: int = 15) -> tuple[int, float]:
        """frames (T, S, S, 3) uint8 RGB aligned faces at 25 fps, audio (T*640,) int16 16 kHz -> (offset, confidence)."""
        mean_dist = self.shift_distances(frames, audio, max_offset).mean(0)  # (shifts,)
        min_val, min_idx = mean_dist.min(0)
        return int(max_offset - min_idx), float(mean_dist.median() - min_val)


def _load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # checkpoints from other tools may hold pickled objects
        log.warning("%s: not loadable with weights_only=True (%s); loading it as a trusted pickle", path, err)
        return torch.load(path, map_location="cpu", weights_only=False)


def read_sync_net_checkpoint(ckpt_path: str | Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A lipsync-train SyncNet checkpoint -> ``(sync_net info, net state without the prefix, other state)``.

    The "other state" holds the ``state_dict`` entries outside the net (the BCE expert's ``logit_scale`` /
    ``logit_bias``). Raises naming the file when it does not exist or has no ``sync_net`` entry.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"sync scorer checkpoint {str(path)!r} does not exist")
    ckpt = _load(path)
    if "sync_net" not in ckpt:
        raise KeyError(f"{path}: not a lipsync-train SyncNet checkpoint (no 'sync_net' field)")
    return _split_sync_net(ckpt)


def _split_sync_net(ckpt: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    info, prefix = ckpt["sync_net"], ckpt["sync_net"]["state_prefix"]
    state = ckpt.get("state_dict", {})
    net_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return info, net_state, {k: v for k, v in state.items() if not k.startswith(prefix)}


def load_sync_scorer(ckpt_path: str | Path, device: str = "cpu") -> SyncScorer:
    """A lipsync-train SyncNet checkpoint, or an official ``syncnet_v2.model`` state dict -> SyncScorer."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"sync scorer checkpoint {str(path)!r} does not exist")
    ckpt = _load(path)
    extra: dict[str, Any] = {}
    face_template = "mesh"
    if "sync_net" in ckpt:
        info, state, extra = _split_sync_net(ckpt)
        net = get_object(info["target"])(**info["kwargs"])
        if info.get("window") is None:
            raise KeyError(f"{path}: field 'sync_net.window' is empty; the checkpoint was saved without a datamodule")
        window = WindowSpec(**info["window"])
        face_template = info.get("face_template", "mesh")
    elif any(k.startswith("netcnnaud.") for k in ckpt):
        net, state, window = SyncNetV2(), ckpt, V2_WINDOW
    else:
        raise KeyError(f"{path}: neither a lipsync-train checkpoint (no 'sync_net' field) nor a syncnet_v2 "
                       f"state dict (no 'netcnnaud.*' keys)")
    net.load_state_dict(state)
    return SyncScorer(net, window, device, extra_state=extra, face_template=face_template)


def export_syncnet_v2(ckpt_path: str | Path, out_path: str | Path) -> Path:
    """Write the syncnet_v2 net of a lipsync-train checkpoint as a bare state dict, the official file format."""
    scorer = load_sync_scorer(ckpt_path)
    if not isinstance(scorer.net, SyncNetV2):
        raise TypeError(f"{ckpt_path}: holds a {type(scorer.net).__name__}, not a SyncNetV2")
    state = {k: v for k, v in scorer.net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, out_path)
    return Path(out_path)
