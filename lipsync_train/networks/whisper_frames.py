"""LatentSync's Whisper audio path on a ``transformers`` ``WhisperEncoder``: per-frame ``(50, 384)`` tokens.

What LatentSync does (``latentsync/whisper/audio2feature.py`` + its vendored, modified
``whisper/transcribe.py`` / ``model.py`` / ``audio.py``), and what this module reproduces:

1. **Log-mel of the whole clip** (:func:`data_prep.latentsync_audio.whisper_log_mel`): ``N // 160``
   frames at 100 Hz, floored at ``max - 8`` with the max over the whole clip (the audio is *not*
   padded to 30 s first).
2. **30 s segments**: the log-mel is cut every 3000 frames; each piece is padded with **0.0 in
   log-mel space** to 3000 frames (``pad_or_trim`` on the mel, not on the audio) and encoded
   separately; of a piece of ``m`` frames only the first ``m // 2`` encoder steps are kept, so a
   clip has ``L = sum(m_k // 2)`` (= ``N // 320``) steps at 50 Hz.
3. **Every layer**: per step the encoder's conv stem + positional embedding, then the output of
   each block (``n_layer + 1`` vectors; ``ln_post`` is NOT applied): ``(L, 5, 384)`` for tiny.
4. **Per-frame window** (``get_sliced_feature``, 25 fps): video frame ``i`` takes the steps
   ``2i - 4 .. 2i + 5`` (two frames each side: ``audio_feat_length = [2, 2]`` -> ``left = 2i - 2*2``,
   ``right = 2i + (2+1)*2`` exclusive), each index clamped to ``0 .. L - 1``, concatenated
   step-major / layer-fastest: ``(10 * 5, 384) = (50, 384)``. So rows are
   ``[s0.l0, s0.l1, .., s0.l4, s1.l0, ..]``. The index clamp uses the clip's ``L``, never a
   window's, so a training window equals the same rows of the whole-clip features.
5. LatentSync's inference pipeline makes ``floor(L / 2) + 2`` frames of features
   (:func:`latentsync_n_chunks`) and loops the video to that length; here the caller says how
   many frames it wants (default ``ceil(N / 640)``, the project's convention).

The encoder is ``transformers``' ``WhisperEncoder``; its forward is used as is and the per-layer
vectors are read with forward pre-hooks (the input of each encoder layer and of the final
``layer_norm``), so ``ln_post`` never enters and no transformers-version-specific
``output_hidden_states`` semantics are relied on.

**Weights from an openai-whisper checkpoint** (LatentSync's ``checkpoints/whisper/tiny.pt``:
``{"dims", "model_state_dict"}`` with fp16 tensors): converted with the key mapping of
transformers' ``models/whisper/convert_openai_to_hf.py`` (``remove_ignore_keys_`` + ``rename_keys``
with ``WHISPER_MAPPING``, and its ``WhisperConfig`` arguments). That converter lives in the
transformers *source tree only*: it is not in the wheels (checked 4.48.0 and 5.24.0), and its
``convert_openai_whisper_to_tfms`` downloads a generation config from the hub. So the mapping table
is the copy below (upstream commit 01080c629600d4ff3121446bb4f4a2e240c2cf41), compared in a test with
the table ``tools/fixtures/extract_whisper_mapping.py`` reads from that source file; the conversion then loads the
encoder *strictly*: a leftover or missing tensor is an error naming every key. fp16 tensors are
cast to the encoder's dtype (float32 by default, which is what LatentSync computes on CPU). On CUDA,
LatentSync's ``transcribe`` runs the encoder in fp16 (weights kept fp32 and cast per op, LayerNorm and
softmax in fp32) in training (``train_unet.py``, features cached) and inference alike, so the released
UNet saw fp16-rounded features; pass ``dtype=torch.float16`` to get close to that (not bit-equal).

Parity with LatentSync's own code is tested in ``tests/lipsync_train/test_latentsync_syncnet_parity.py``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from data_prep.latentsync_audio import (
    WHISPER_SEGMENT_FRAMES,
    pcm_to_float32,
    whisper_log_mel,
)
from data_prep.schema import FPS, SAMPLES_PER_FRAME

STEPS_PER_SECOND = 50  # encoder steps per second (conv2 stride 2 over 100 Hz log-mel)
if STEPS_PER_SECOND % FPS:
    raise ImportError(f"LatentSync's window needs 50 / fps integral, fps={FPS}")
STEPS_PER_FRAME = STEPS_PER_SECOND // FPS  # 2
AUDIO_FEAT_LENGTH = (2, 2)  # LatentSync Audio2Feature default: frames of context left / right
WINDOW_OFFSETS = tuple(range(-AUDIO_FEAT_LENGTH[0] * STEPS_PER_FRAME, (AUDIO_FEAT_LENGTH[1] + 1) * STEPS_PER_FRAME))
STEPS_PER_SEGMENT = WHISPER_SEGMENT_FRAMES // 2  # 1500

# transformers/src/transformers/models/whisper/convert_openai_to_hf.py @ 01080c6, verbatim
WHISPER_MAPPING = {
    "blocks": "layers",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
    ".attn.query": ".self_attn.q_proj",
    ".attn.key": ".self_attn.k_proj",
    ".attn.value": ".self_attn.v_proj",
    ".attn_ln": ".self_attn_layer_norm",
    ".attn.out": ".self_attn.out_proj",
    ".cross_attn.query": ".encoder_attn.q_proj",
    ".cross_attn.key": ".encoder_attn.k_proj",
    ".cross_attn.value": ".encoder_attn.v_proj",
    ".cross_attn_ln": ".encoder_attn_layer_norm",
    ".cross_attn.out": ".encoder_attn.out_proj",
    "decoder.ln.": "decoder.layer_norm.",
    "encoder.ln.": "encoder.layer_norm.",
    "token_embedding": "embed_tokens",
    "encoder.positional_embedding": "encoder.embed_positions.weight",
    "decoder.positional_embedding": "decoder.embed_positions.weight",
    "ln_post": "layer_norm",
}


def openai_to_hf_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The converter's ``remove_ignore_keys_`` + ``rename_keys`` (without its per-key print)."""
    out = dict(state_dict)
    for k in ("layers", "blocks"):  # remove_ignore_keys_
        out.pop(k, None)
    renamed = {}
    for key, value in out.items():  # rename_keys: every mapping entry, in order, as substring replace
        new_key = key
        for k, v in WHISPER_MAPPING.items():
            if k in key:
                new_key = new_key.replace(k, v)
        renamed[new_key] = value
    return renamed


def whisper_config_from_openai_dims(dims: Mapping[str, int], ffn_dim: int | None = None) -> WhisperConfig:
    """``WhisperConfig`` as ``convert_openai_whisper_to_tfms`` builds it from openai ``dims``.

    The converter reads the FFN width from the decoder's first ``fc1``; ``ffn_dim`` (the encoder's,
    identical in every released model) is passed in by :func:`encoder_from_openai_checkpoint`.
    Token ids are the converter's (50256/50257) when they fit the vocabulary; test models with tiny
    vocabularies get no pad/bos/eos and decoder start 0, so a full ``WhisperModel`` can still be
    built from the config (token ids are irrelevant to the encoder).
    """
    n_state = int(dims["n_audio_state"])
    ffn = int(ffn_dim) if ffn_dim is not None else 4 * n_state
    vocab = int(dims["n_vocab"])
    endoftext_id = 50257 if vocab > 51865 else 50256
    ids: dict[str, Any] = {"eos_token_id": endoftext_id, "bos_token_id": endoftext_id, "pad_token_id": endoftext_id,
                           "decoder_start_token_id": endoftext_id + 1}
    if endoftext_id + 1 >= vocab:
        ids = {"eos_token_id": None, "bos_token_id": None, "pad_token_id": None, "decoder_start_token_id": 0}
    return WhisperConfig(
        vocab_size=vocab,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        num_mel_bins=int(dims["n_mels"]),
        d_model=n_state,
        max_target_positions=int(dims["n_text_ctx"]),
        encoder_layers=int(dims["n_audio_layer"]),
        encoder_attention_heads=int(dims["n_audio_head"]),
        decoder_layers=int(dims["n_text_layer"]),
        decoder_attention_heads=int(dims["n_text_head"]),
        max_source_positions=int(dims["n_audio_ctx"]),
        **ids,
    )


def encoder_from_openai_checkpoint(checkpoint: Mapping[str, Any] | str | Path,
                                   dtype: torch.dtype = torch.float32) -> WhisperEncoder:
    """openai-whisper checkpoint (dict or path, e.g. LatentSync's ``whisper/tiny.pt``) -> ``WhisperEncoder``.

    Strict: raises ``KeyError`` naming every encoder tensor missing from the checkpoint and every
    checkpoint encoder tensor the encoder has no place for; shape mismatches raise too. Decoder
    tensors are ignored on purpose (LatentSync never runs the decoder).
    """
    if not isinstance(checkpoint, Mapping):
        checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise KeyError(f"not an openai-whisper checkpoint (keys {sorted(checkpoint)}): expected 'dims' and "
                       f"'model_state_dict'")
    dims = dict(checkpoint["dims"])
    hf = openai_to_hf_keys(checkpoint["model_state_dict"])
    unknown = sorted(k for k in hf if not k.startswith(("encoder.", "decoder.")))
    enc_sd = {k[len("encoder."):]: v for k, v in hf.items() if k.startswith("encoder.")}
    fc1 = enc_sd.get("layers.0.fc1.weight")
    config = whisper_config_from_openai_dims(dims, None if fc1 is None else fc1.shape[0])
    encoder = WhisperEncoder(config)
    load_encoder_state(encoder, enc_sd, extra_unexpected=unknown)
    return encoder.to(dtype)


def load_encoder_state(encoder: WhisperEncoder, state: Mapping[str, torch.Tensor],
                       extra_unexpected: Sequence[str] = ()) -> None:
    """Strict load that names every leftover key on either side and every shape mismatch."""
    own = encoder.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own)) + list(extra_unexpected)
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs encoder {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or shapes:
        raise KeyError("Whisper encoder state does not match: "
                       f"missing from checkpoint {missing}; not in the encoder {unexpected}; shape mismatches {shapes}")
    encoder.load_state_dict(dict(state), strict=True)


def latentsync_n_chunks(n_steps: int) -> int:
    """How many per-frame features LatentSync's ``feature2chunks`` makes from ``n_steps`` steps."""
    return n_steps // 2 + 2


def frame_step_indices(frame_indices: torch.Tensor, n_steps: torch.Tensor | int) -> torch.Tensor:
    """``(..., 10)`` encoder steps read by each video frame: ``2i - 4 .. 2i + 5`` clamped to ``0 .. L-1``.

    ``n_steps`` (``L``) broadcasts against ``frame_indices`` (one per clip in a batch).
    """
    frame_indices = torch.as_tensor(frame_indices, dtype=torch.long)
    offsets = torch.tensor(WINDOW_OFFSETS, dtype=torch.long, device=frame_indices.device)
    idx = STEPS_PER_FRAME * frame_indices[..., None] + offsets
    last = torch.as_tensor(n_steps, dtype=torch.long, device=frame_indices.device) - 1
    if torch.is_tensor(last) and last.dim() > 0:
        last = last.reshape(last.shape + (1,) * (idx.dim() - last.dim()))
    return torch.minimum(idx.clamp(min=0), last)


def frame_windows(steps: torch.Tensor, frame_indices) -> torch.Tensor:
    """Whole-clip steps ``(L, K, D)`` -> per-frame tokens ``(F, 10 K, D)`` (step-major, layer-fastest)."""
    if steps.dim() != 3:
        raise ValueError(f"steps must be (L, layers, d_model), got {tuple(steps.shape)}")
    idx = frame_step_indices(torch.as_tensor(frame_indices, dtype=torch.long, device=steps.device), steps.shape[0])
    picked = steps[idx]  # (F, 10, K, D)
    return picked.reshape(picked.shape[0], -1, steps.shape[-1])


def segment_bounds(n_mel_frames: int) -> list[tuple[int, int]]:
    """``(seek, end_seek)`` of each 30 s segment, as LatentSync's ``transcribe`` loops."""
    return [(s, min(s + WHISPER_SEGMENT_FRAMES, n_mel_frames)) for s in range(0, n_mel_frames, WHISPER_SEGMENT_FRAMES)]


def mel_segments(log_mel: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """``(80, T)`` log-mel -> ``(S, 80, 3000)`` zero-padded segments and the steps kept from each."""
    pieces, keep = [], []
    for seek, end in segment_bounds(log_mel.shape[-1]):
        piece = log_mel[:, seek:seek + WHISPER_SEGMENT_FRAMES]
        pieces.append(nn.functional.pad(piece, (0, WHISPER_SEGMENT_FRAMES - piece.shape[-1])))
        keep.append((end - seek) // 2)  # emb_end_idx = int((end_idx - start_idx) / 2)
    return torch.stack(pieces), keep


class LatentSyncWhisperInputs:
    """Loader side of :class:`WhisperFrameEncoder` for training windows (picklable, runs in workers).

    For the window of ``length`` frames starting at ``start`` in a clip it returns the (at most two)
    zero-padded 30 s log-mel segments that hold every step the window reads, computed from the
    WHOLE clip's log-mel (the clamp's max is the clip's), plus where they sit:
    ``whisper_mel`` (2, 80, 3000) float32, ``audio_first_step`` (global step of the first segment's
    step 0), ``audio_n_steps`` (the clip's ``L``), ``audio_n_segments`` (1 or 2; the second is zeros
    when 1), ``audio_first_frame`` (= ``start``).
    """

    def __call__(self, audio: np.ndarray, n_frames: int, start: int, length: int,
                 rng: random.Random | None = None) -> dict[str, Any]:
        log_mel = whisper_log_mel(audio)
        segments, keep = mel_segments(log_mel)
        n_steps = sum(keep)
        lo, hi = frame_step_indices(torch.tensor([start, start + length - 1]), n_steps)[[0, 1], [0, -1]].tolist()
        first, last = lo // STEPS_PER_SEGMENT, hi // STEPS_PER_SEGMENT
        if last - first > 1:
            raise ValueError(f"window of {length} frames spans more than two 30 s Whisper segments")
        mel = torch.zeros((2,) + tuple(segments.shape[1:]), dtype=torch.float32)
        mel[: last - first + 1] = segments[first:last + 1]
        return {"whisper_mel": mel.numpy(), "audio_first_step": first * STEPS_PER_SEGMENT,
                "audio_n_steps": n_steps, "audio_n_segments": last - first + 1, "audio_first_frame": start}


class WhisperFrameEncoder(nn.Module):
    """Frozen ``transformers`` ``WhisperEncoder`` -> LatentSync's per-frame audio tokens.

    Build it from a ``WhisperConfig`` (or its dict; random weights), with
    :meth:`from_openai_checkpoint` (LatentSync's ``whisper/tiny.pt``) or :meth:`from_pretrained`
    (a transformers Whisper folder). ``tokens_per_frame = 10 * (encoder_layers + 1)`` (50 for tiny),
    ``d_model`` (384 for tiny).
    """

    def __init__(self, config: WhisperConfig | Mapping[str, Any] | None = None, *,
                 encoder: WhisperEncoder | None = None, max_batch: int = 8):
        super().__init__()
        if encoder is None:
            if config is None:
                raise ValueError("give a WhisperConfig (or dict) or an encoder")
            config = config if isinstance(config, WhisperConfig) else WhisperConfig(**dict(config))
            encoder = WhisperEncoder(config)
        self.encoder = encoder
        cfg = encoder.config
        if int(cfg.max_source_positions) != STEPS_PER_SEGMENT:
            raise ValueError(f"LatentSync's features need 30 s segments (max_source_positions 1500), "
                             f"got {cfg.max_source_positions}")
        self.d_model = int(cfg.d_model)
        self.n_hidden = int(cfg.encoder_layers) + 1
        self.tokens_per_frame = len(WINDOW_OFFSETS) * self.n_hidden
        self.max_batch = int(max_batch)
        self.init_kwargs = {"config": cfg.to_diff_dict(), "max_batch": self.max_batch}
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    # --------------------------------------------------------------- constructors
    @classmethod
    def from_openai_checkpoint(cls, checkpoint: Mapping[str, Any] | str | Path, dtype: torch.dtype = torch.float32,
                               **kwargs) -> WhisperFrameEncoder:
        return cls(encoder=encoder_from_openai_checkpoint(checkpoint, dtype), **kwargs)

    @classmethod
    def from_pretrained(cls, folder: str | Path, dtype: torch.dtype = torch.float32, **kwargs) -> WhisperFrameEncoder:
        from transformers import WhisperModel

        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: expected a local transformers Whisper folder")
        return cls(encoder=WhisperModel.from_pretrained(str(folder)).encoder.to(dtype), **kwargs)

    def train(self, mode: bool = True) -> WhisperFrameEncoder:  # frozen feature extractor: always eval
        return super().train(False)

    # --------------------------------------------------------------- encoder
    def _param(self) -> torch.Tensor:
        return next(self.encoder.parameters())

    @torch.no_grad()
    def encode_segments(self, segments: torch.Tensor) -> torch.Tensor:
        """``(S, 80, 3000)`` log-mel segments -> ``(S, 1500, n_layers + 1, d_model)`` in float32."""
        p = self._param()
        outs = []
        for b in range(0, segments.shape[0], self.max_batch):
            captured: list[torch.Tensor] = []

            def grab(_module, args, _captured=captured):
                _captured.append(args[0])

            hooks = [layer.register_forward_pre_hook(grab) for layer in self.encoder.layers]
            hooks.append(self.encoder.layer_norm.register_forward_pre_hook(grab))
            try:
                self.encoder(segments[b:b + self.max_batch].to(device=p.device, dtype=p.dtype))
            finally:
                for h in hooks:
                    h.remove()
            if len(captured) != self.n_hidden:
                raise RuntimeError(f"captured {len(captured)} hidden states, expected {self.n_hidden}")
            outs.append(torch.stack(captured, dim=2).float())
        return torch.cat(outs)

    def step_features(self, audio_16k) -> torch.Tensor:
        """Whole clip -> ``(L, n_layers + 1, d_model)`` float32, LatentSync's ``audio2feat``."""
        segments, keep = mel_segments(whisper_log_mel(audio_16k))
        encoded = self.encode_segments(segments)
        return torch.cat([encoded[i, :k] for i, k in enumerate(keep)])

    def clip_features(self, audio_16k: np.ndarray, n_frames: int | None = None) -> torch.Tensor:
        """16 kHz mono clip (int16 or float) -> ``(n_frames, 10 (layers + 1), d_model)`` float32 on the CPU.

        Row ``i`` is LatentSync's ``get_sliced_feature(feature_array, i)`` (see the module doc);
        ``n_frames`` defaults to ``ceil(N / 640)``. Frames past the audio repeat the last step, as in
        LatentSync (whose pipeline asks for :func:`latentsync_n_chunks` frames).
        """
        audio = pcm_to_float32(audio_16k) if not torch.is_tensor(audio_16k) else audio_16k
        if n_frames is None:
            n_frames = math.ceil(audio.shape[0] / SAMPLES_PER_FRAME)
        steps = self.step_features(audio)
        return frame_windows(steps, torch.arange(int(n_frames))).cpu()

    def window_features(self, audios: Sequence[np.ndarray], start_frames: Sequence[int],
                        n_frames: int = 16) -> torch.Tensor:
        """A batch of whole clips + window starts -> ``(B, n_frames, tokens, d_model)`` float32.

        LatentSync's training path (``audio2feat`` of the clip, then ``crop_overlap_audio_window``):
        all clips' 30 s segments go through the encoder together (``max_batch`` at a time).
        """
        if len(audios) != len(start_frames):
            raise ValueError(f"{len(audios)} clips but {len(start_frames)} start frames")
        all_segments, keeps = [], []
        for audio in audios:
            segments, keep = mel_segments(whisper_log_mel(audio))
            all_segments.append(segments)
            keeps.append(keep)
        encoded = self.encode_segments(torch.cat(all_segments))
        out, at = [], 0
        for keep, start in zip(keeps, start_frames):
            steps = torch.cat([encoded[at + i, :k] for i, k in enumerate(keep)])
            at += len(keep)
            out.append(frame_windows(steps, torch.arange(int(start), int(start) + n_frames)))
        return torch.stack(out).cpu()

    # --------------------------------------------------------------- loader-side protocol
    def window_inputs(self) -> LatentSyncWhisperInputs:
        return LatentSyncWhisperInputs()

    def window_tokens(self, batch: Mapping[str, Any], n_frames: int) -> torch.Tensor:
        """Collated :class:`LatentSyncWhisperInputs` fields -> ``(B, n_frames, tokens, d_model)``."""
        mel = torch.as_tensor(batch["whisper_mel"])  # (B, 2, 80, 3000)
        n_seg = torch.as_tensor(batch["audio_n_segments"]).long()
        b = mel.shape[0]
        used = torch.arange(2)[None, :] < n_seg[:, None]  # (B, 2)
        encoded = self.encode_segments(mel[used])  # (U, 1500, K, D)
        steps = encoded.new_zeros((b, 2) + tuple(encoded.shape[1:]))
        steps[used.to(encoded.device)] = encoded
        steps = steps.reshape(b, 2 * STEPS_PER_SEGMENT, self.n_hidden, self.d_model)
        first_frame = torch.as_tensor(batch["audio_first_frame"]).long()
        frames = first_frame[:, None] + torch.arange(n_frames)[None]  # (B, T)
        idx = frame_step_indices(frames, torch.as_tensor(batch["audio_n_steps"]).long())  # (B, T, 10) global
        idx = (idx - torch.as_tensor(batch["audio_first_step"]).long()[:, None, None]).to(steps.device)
        picked = steps[torch.arange(b, device=steps.device)[:, None, None], idx]  # (B, T, 10, K, D)
        return picked.reshape(b, n_frames, self.tokens_per_frame, self.d_model)
