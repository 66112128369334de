"""Per-frame audio tokens for the UNet's cross-attention, from a Whisper encoder (``transformers``).

Whisper's encoder turns a fixed-length chunk of 16 kHz audio (30 s for the
released models; ``max_source_positions / 50`` s in general) into 50 tokens a
second: exactly 2 tokens per 25 fps video frame. For video frame ``t`` we take,
from *every* encoder layer's hidden states (the embeddings plus each layer, as
LatentSync does: low layers carry acoustics, high layers phonetics), the tokens
of frames ``t - w .. t + w`` (``w = 2``): ``(layers + 1) x (2w + 1) x 2`` tokens of
``d_model`` (50 x 384 for whisper-tiny). At clip edges the frame index is
clamped to the clip, so the first frame repeats its own tokens instead of
attending to the silence padding Whisper appends.

A randomly initialised encoder (tiny recipes, tests) needs a larger ``init_std``
than Whisper's 0.02: at 0.02 its convolutions pass the log-mel through at ~2 %
of the amplitude of the sinusoidal position embedding, every token is mostly
"where in the chunk", and a UNet trained on it learns to ignore the audio.

The encoder is frozen. Features depend only on the audio, so
:meth:`WhisperAudioEncoder.clip_features` (whole clip, chunk by chunk) can be
precomputed once per clip and cached
(:func:`lipsync_train.networks.audio_encoder.cached_clip_features`). This is one
implementation of the audio-encoder interface of ``audio_encoder.py``; in
training, :class:`WhisperWindowInputs` computes each window's log-mel in the
loader workers and :meth:`WhisperAudioEncoder.window_tokens` runs the encoder.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from data_prep.pretrained import resolve_pretrained
from data_prep.schema import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from lipsync_train.networks.specs import plain_config

log = logging.getLogger(__name__)
TOKENS_PER_FRAME = 2  # Whisper: 100 mel steps/s, conv stride 2 -> 50 tokens/s; video: 25 frames/s


class WhisperAudioEncoder(nn.Module):
    """Frozen Whisper encoder -> per-frame windows of all-layer hidden states."""

    def __init__(self, pretrained: str | None = None, config: dict[str, Any] | None = None, window: int = 2):
        super().__init__()
        if pretrained:  # a transformers Whisper folder or hub id (openai/whisper-tiny), see data_prep/pretrained.py
            folder = resolve_pretrained(pretrained, "model.audio_encoder.pretrained",
                                        ["config.json", "*.safetensors", "preprocessor_config.json"])
            self.encoder = WhisperModel.from_pretrained(str(folder)).encoder
        elif config is not None:
            self.encoder = WhisperEncoder(WhisperConfig(**dict(config)))
        else:
            raise ValueError("model.audio_encoder: give either 'pretrained' (a local directory) or 'config'")
        cfg = self.encoder.config
        self.window = window
        self.chunk_tokens = int(cfg.max_source_positions)
        self.chunk_frames = self.chunk_tokens // TOKENS_PER_FRAME
        if self.chunk_frames * SAMPLES_PER_FRAME % SAMPLE_RATE:
            raise ValueError(f"Whisper max_source_positions={self.chunk_tokens}: expected a multiple of 50 "
                             f"(whole seconds of audio per chunk)")
        self.chunk_samples = self.chunk_frames * SAMPLES_PER_FRAME
        self.n_mels = int(cfg.num_mel_bins)
        self.d_model = int(cfg.d_model)
        self.n_hidden = int(cfg.encoder_layers) + 1
        self.tokens_per_frame = self.n_hidden * (2 * window + 1) * TOKENS_PER_FRAME
        self.features = WhisperFeatureExtractor(feature_size=self.n_mels, sampling_rate=SAMPLE_RATE,
                                                chunk_length=self.chunk_samples // SAMPLE_RATE)
        self.encoder.requires_grad_(False)
        self.encoder.eval()
        self.init_kwargs = {"config": plain_config(cfg), "window": window}  # rebuilds it without pretrained files

    def train(self, mode: bool = True) -> "WhisperAudioEncoder":  # always frozen, always eval
        return super().train(False)

    def mel(self, audio: np.ndarray) -> np.ndarray:
        """(N,) int16 or float 16 kHz audio, N <= chunk_samples -> (n_mels, 2 chunk_tokens) float32 log-mel."""
        x = audio.astype(np.float32) / (32768.0 if audio.dtype == np.int16 else 1.0)
        if len(x) > self.chunk_samples:
            raise ValueError(f"audio of {len(x)} samples exceeds the encoder chunk of {self.chunk_samples}")
        x = np.pad(x, (0, self.chunk_samples - len(x)))
        out = self.features(x, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_features"][0]
        return out.astype(np.float32)

    @torch.no_grad()
    def hidden_states(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, 2 chunk_tokens) -> (B, n_hidden, chunk_tokens, d_model) every layer's output."""
        out = self.encoder(mel.to(next(self.encoder.parameters()).dtype), output_hidden_states=True)
        return torch.stack(out.hidden_states, 1)

    def frame_tokens(self, hidden: torch.Tensor, first_frame: torch.Tensor, n_frames: int,
                     valid_frames: torch.Tensor) -> torch.Tensor:
        """Gather windows: hidden (B, H, Ntok, D), first_frame (B,), valid_frames (B,) -> (B, n_frames, tokens, D).

        Frame ``first_frame + i`` reads the tokens of frames ``f - w .. f + w`` clamped to
        ``0 .. valid_frames - 1`` (the chunk's real audio, not its padding).
        """
        b, h, _, d = hidden.shape
        dev = hidden.device
        offsets = torch.arange(-self.window, self.window + 1, device=dev)  # (2w+1,)
        frames = first_frame.to(dev)[:, None] + torch.arange(n_frames, device=dev)[None]  # (B, T)
        neighbours = frames[:, :, None] + offsets[None, None]  # (B, T, 2w+1)
        neighbours = torch.minimum(neighbours.clamp(min=0), (valid_frames.to(dev) - 1)[:, None, None])
        tok = (TOKENS_PER_FRAME * neighbours[..., None]
               + torch.arange(TOKENS_PER_FRAME, device=dev)).flatten(2)  # (B, T, K) K = 2 (2w+1)
        idx = tok[:, None, :, :, None].expand(b, h, n_frames, tok.shape[-1], d)  # (B, H, T, K, D)
        src = hidden[:, :, None].expand(b, h, n_frames, hidden.shape[2], d)
        out = torch.gather(src, 3, idx)  # (B, H, T, K, D)
        return out.permute(0, 2, 1, 3, 4).reshape(b, n_frames, h * tok.shape[-1], d)

    @torch.no_grad()
    def clip_features(self, audio: np.ndarray, n_frames: int | None = None) -> torch.Tensor:
        """(N,) 16 kHz audio of any length -> (T, tokens_per_frame, d_model) float32 on the CPU, chunk by chunk."""
        n_frames = n_frames if n_frames is not None else -(-len(audio) // SAMPLES_PER_FRAME)
        device = next(self.encoder.parameters()).device
        out = []
        for first in range(0, n_frames, self.chunk_frames):
            count = min(self.chunk_frames, n_frames - first)
            piece = audio[first * SAMPLES_PER_FRAME:(first + count) * SAMPLES_PER_FRAME]
            mel = torch.from_numpy(self.mel(piece))[None].to(device)  # (1, n_mels, L)
            hidden = self.hidden_states(mel)
            tokens = self.frame_tokens(hidden, torch.zeros(1, dtype=torch.long), count, torch.tensor([count]))
            out.append(tokens[0].float().cpu())
        return torch.cat(out)

    def window_inputs(self) -> "WhisperWindowInputs":
        """The loader-side feature maker that matches this encoder."""
        return WhisperWindowInputs(self.n_mels, self.chunk_frames // FPS)

    def window_tokens(self, batch: dict[str, Any], n_frames: int) -> torch.Tensor:
        """A batch of training windows (fields of :class:`WhisperWindowInputs`) -> (B, T, K, D) tokens."""
        mel = batch["whisper_mel"]  # (B, n_mels, L)
        if mel.shape[1] != self.n_mels or mel.shape[2] != 2 * self.chunk_tokens:
            raise ValueError(f"batch 'whisper_mel' {tuple(mel.shape)}: the audio encoder expects (B, {self.n_mels}, "
                             f"{2 * self.chunk_tokens}); set data.audio_inputs.n_mels / data.audio_inputs."
                             f"chunk_seconds to match model.audio_encoder")
        hidden = self.hidden_states(mel)  # (B, H, Ntok, D)
        return self.frame_tokens(hidden, batch["audio_first_frame"], n_frames, batch["audio_valid_frames"])


class WhisperWindowInputs:
    """Data side of :class:`WhisperAudioEncoder` (runs in loader workers): the Whisper chunk that holds a
    window, as its log-mel, plus where the window sits in it. ``n_mels`` / ``chunk_seconds`` must match the
    encoder's ``num_mel_bins`` / ``max_source_positions / 50`` (checked in :meth:`WhisperAudioEncoder.window_tokens`)."""

    def __init__(self, n_mels: int = 80, chunk_seconds: int = 30):
        self.chunk_frames = chunk_seconds * FPS
        self.extractor = WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=SAMPLE_RATE,
                                                 chunk_length=chunk_seconds)

    def __call__(self, audio: np.ndarray, n_frames: int, start: int, length: int,
                 rng: random.Random) -> dict[str, Any]:
        if n_frames <= self.chunk_frames:
            first = 0
        else:  # a chunk that contains the whole window, placed at random around it
            lo, hi = max(0, start + length - self.chunk_frames), min(start, n_frames - self.chunk_frames)
            first = rng.randint(lo, hi)
        valid = min(self.chunk_frames, n_frames - first)
        piece = audio[first * SAMPLES_PER_FRAME:(first + valid) * SAMPLES_PER_FRAME]
        x = np.pad(piece.astype(np.float32) / 32768.0, (0, self.chunk_frames * SAMPLES_PER_FRAME - len(piece)))
        mel = self.extractor(x, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_features"][0]
        return {"whisper_mel": mel.astype(np.float32), "audio_first_frame": start - first, "audio_valid_frames": valid}
