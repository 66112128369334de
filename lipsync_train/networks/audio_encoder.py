"""The audio-encoder interface: what the UNet's cross-attention reads, however the tokens are made.

An audio encoder is a frozen ``nn.Module`` that turns 16 kHz speech into ``K``
tokens of width ``d_model`` per 25 fps video frame. The diffusion module, the
data module and the inference pipeline use only this interface, so a new
encoder is one module in ``lipsync_train/networks/`` and one YAML
(``model.audio_encoder`` naming its class, ``data.audio_inputs`` naming its
loader-side feature maker):

- ``d_model``, ``tokens_per_frame``: the token shape ``(K, D)`` per frame;
- ``clip_features(audio, n_frames) -> (T, K, D)``: a whole clip, for inference
  and scoring (``audio`` int16 or float 16 kHz);
- ``window_inputs()``: the picklable callable the training loader runs per
  window, ``(audio, n_frames, start, length, rng) -> dict`` of numpy fields;
- ``window_tokens(batch, n_frames) -> (B, T, K, D)``: the collated fields of a
  batch of windows -> tokens, inside the LightningModule;
- ``init_kwargs``: constructor arguments that rebuild it with no pretrained files
  (saved in UNet checkpoints as ``{"target", "kwargs"}``, like the SyncNets).

:class:`~lipsync_train.networks.whisper_encoder.WhisperAudioEncoder` is the one in use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
from hydra.utils import get_object

from lipsync_train.networks.specs import build_from_spec

log = logging.getLogger(__name__)


class AudioEncoder(Protocol):
    d_model: int
    tokens_per_frame: int
    init_kwargs: dict[str, Any]

    def clip_features(self, audio: np.ndarray, n_frames: int | None = None) -> torch.Tensor: ...

    def window_inputs(self) -> Callable[..., dict[str, Any]]: ...

    def window_tokens(self, batch: dict[str, Any], n_frames: int) -> torch.Tensor: ...


DEFAULT_AUDIO_INPUTS = {"target": "lipsync_train.networks.whisper_encoder.WhisperWindowInputs"}


def build_window_inputs(spec: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """``data.audio_inputs`` (``{"target": class path, **its arguments}``, plain values so the data module's
    hyper-parameters stay plain) -> the loader-side feature maker."""
    if "target" not in spec:
        raise KeyError(f"data.audio_inputs={dict(spec)!r}: field 'target' (the feature maker's class path) missing")
    kwargs = {k: v for k, v in spec.items() if k != "target"}
    return get_object(spec["target"])(**kwargs)


def build_audio_encoder(spec: dict[str, Any]) -> AudioEncoder:
    """A checkpoint's audio-encoder entry -> the encoder (random weights until its state dict is loaded).

    Older UNet checkpoints carry ``{"whisper": config, "audio_window": w}`` instead of ``{"target", "kwargs"}``.
    """
    if "target" in spec:
        return build_from_spec(spec, "audio encoder")
    from lipsync_train.networks.whisper_encoder import WhisperAudioEncoder

    return WhisperAudioEncoder(config=spec["whisper"], window=spec["audio_window"])


def cached_clip_features(encoder: AudioEncoder, audio: np.ndarray, cache_file: str | Path | None) -> torch.Tensor:
    """``encoder.clip_features``, read from / written to ``cache_file`` (.npy) when given."""
    if cache_file is not None and Path(cache_file).is_file():
        cached = np.load(cache_file)
        if cached.shape[1:] == (encoder.tokens_per_frame, encoder.d_model):
            return torch.from_numpy(cached)
        log.warning("%s: cached features have shape %s, not (T, %d, %d); recomputing", cache_file, cached.shape,
                    encoder.tokens_per_frame, encoder.d_model)
    feats = encoder.clip_features(audio)
    if cache_file is not None:
        Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
        np.save(cache_file, feats.numpy())
    return feats


def __getattr__(name: str):  # the Whisper encoder lived here before the interface was split out
    if name == "WhisperAudioEncoder":
        from lipsync_train.networks.whisper_encoder import WhisperAudioEncoder

        return WhisperAudioEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
