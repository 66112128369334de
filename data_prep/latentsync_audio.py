"""LatentSync's two audio front ends, reproduced without librosa (floor 0: no model code).

1. **SyncNet mel** (StableSyncNet's audio input) — LatentSync ``latentsync/utils/audio.py`` with
   ``configs/audio.yaml``, itself Wav2Lip's ``audio.py``:

   * pre-emphasis ``scipy.signal.lfilter([1, -0.97], [1], wav)`` over the whole clip;
   * STFT as librosa 0.10 computes it: ``n_fft = win = 800``, hop 200 (80 frames/s at 16 kHz),
     periodic Hann window, ``center=True`` with **zero** padding of 400 samples each side
     (librosa 0.10's default ``pad_mode="constant"``; older librosa reflected), so
     ``1 + N // 200`` frames;
   * magnitude (not power) through an 80-band Slaney mel basis 55..7600 Hz (librosa's
     ``filters.mel`` is float32; we build it with ``transformers.audio_utils.mel_filter_bank``
     and round it to float32: at most one float32 ulp from librosa's);
   * ``20 log10(max(1e-5, x)) - 20`` dB, then ``clip(8 (S + 100) / 100 - 4, -4, 4)``.
     (``rescale: true`` in audio.yaml is never applied by ``melspectrogram``.)

   Output is float64 ``(80, 1 + N // 200)`` like LatentSync's (its dataset caches that tensor and
   casts to fp16 for the model). A training window for the 16 frames starting at video frame
   ``s`` is ``mel[:, k : k + 52]`` with ``k = int(80.0 * (s / 25.0))`` (LatentSync's
   ``crop_audio_window``; ``52 = ceil(16 / 5 * 16)``); LatentSync *skips* the sample when fewer
   than 52 columns remain, :func:`syncnet_mel_window` raises instead.

2. **Whisper log-mel** (the input of the Whisper encoder whose layer outputs condition the UNet) —
   LatentSync's vendored ``latentsync/whisper/whisper/audio.py``: ``torch.stft`` (n_fft 400,
   hop 160, periodic Hann, ``center=True`` with *reflect* padding), last frame dropped
   (``N // 160`` frames), power through the 80-band Slaney mel (0..8000 Hz), ``log10(max(x,
   1e-10))``, floored at ``max - 8`` where the max is over the **whole clip** (the audio is not
   padded to 30 s first, unlike transformers' ``WhisperFeatureExtractor``), then ``(x + 4) / 4``.

Audio is 16 kHz mono: int16 PCM (divided by 32768, which is what ffmpeg / decord give LatentSync)
or float in [-1, 1] (rounded to float32, the dtype LatentSync reads).

Parity with LatentSync's own code (librosa 0.10.1) is tested in
``tests/data_prep/test_latentsync_audio.py`` against fixtures made by ``/work/ref``'s script.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
from scipy import signal
from transformers.audio_utils import mel_filter_bank

from data_prep.schema import FPS, SAMPLE_RATE

# configs/audio.yaml (LatentSync), the values melspectrogram() reads
SYNCNET_MEL_CONFIG = {
    "num_mels": 80,
    "n_fft": 800,
    "hop_size": 200,
    "win_size": 800,
    "sample_rate": 16000,
    "preemphasis": 0.97,
    "min_level_db": -100,
    "ref_level_db": 20,
    "max_abs_value": 4.0,
    "fmin": 55,
    "fmax": 7600,
}
MEL_FRAMES_PER_SECOND = SAMPLE_RATE / SYNCNET_MEL_CONFIG["hop_size"]  # 80.0
SYNCNET_NUM_FRAMES = 16  # video frames per SyncNet sample
SYNCNET_MEL_WINDOW = math.ceil(SYNCNET_NUM_FRAMES / 5 * 16)  # 52, LatentSync's mel_window_length

# latentsync/whisper/whisper/audio.py
WHISPER_N_FFT = 400
WHISPER_HOP = 160
WHISPER_N_MELS = 80
WHISPER_SEGMENT_FRAMES = 3000  # 30 s of log-mel frames per encoder call


def pcm_to_float32(audio: np.ndarray) -> np.ndarray:
    """1-D 16 kHz audio as LatentSync reads it: int16 -> x / 32768, float -> float32."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"expected mono 1-D audio, got shape {audio.shape}")
    if audio.dtype == np.int16:
        return audio.astype(np.float32) / np.float32(32768.0)
    if not np.issubdtype(audio.dtype, np.floating):
        raise TypeError(f"audio must be int16 PCM or float in [-1, 1], got {audio.dtype}")
    return audio.astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- SyncNet mel
@cache
def syncnet_mel_basis() -> np.ndarray:
    """float32 (80, 401) Slaney mel basis, equal to ``librosa.filters.mel(sr=16000, n_fft=800,
    n_mels=80, fmin=55, fmax=7600)`` to one float32 ulp."""
    c = SYNCNET_MEL_CONFIG
    fb = mel_filter_bank(
        num_frequency_bins=c["n_fft"] // 2 + 1,
        num_mel_filters=c["num_mels"],
        min_frequency=float(c["fmin"]),
        max_frequency=float(c["fmax"]),
        sampling_rate=c["sample_rate"],
        norm="slaney",
        mel_scale="slaney",
    )
    basis = np.ascontiguousarray(fb.T.astype(np.float32))
    basis.setflags(write=False)
    return basis


def _stft_magnitude_librosa010(y: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """|librosa.stft(y, n_fft, hop, win)| of librosa 0.10: centred frames, zero padding."""
    if win != n_fft:
        raise NotImplementedError("LatentSync uses win_size == n_fft")
    window = signal.get_window("hann", win, fftbins=True)  # periodic, float64
    padded = np.pad(y, (n_fft // 2, n_fft // 2), mode="constant")
    n_frames = 1 + (padded.shape[0] - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    return np.abs(np.fft.rfft(frames * window, axis=-1)).T  # (n_fft // 2 + 1, n_frames)


def syncnet_mel(audio: np.ndarray) -> np.ndarray:
    """Whole-clip SyncNet mel, float64 ``(80, 1 + N // 200)`` (LatentSync ``melspectrogram``)."""
    c = SYNCNET_MEL_CONFIG
    wav = pcm_to_float32(audio)
    if wav.shape[0] == 0:
        raise ValueError("empty audio")
    emphasised = signal.lfilter([1, -c["preemphasis"]], [1], wav)  # float64, like scipy gives LatentSync
    magnitude = _stft_magnitude_librosa010(emphasised, c["n_fft"], c["hop_size"], c["win_size"])
    mel = np.dot(syncnet_mel_basis(), magnitude)
    min_level = np.exp(c["min_level_db"] / 20 * np.log(10))
    db = 20 * np.log10(np.maximum(min_level, mel)) - c["ref_level_db"]
    m = c["max_abs_value"]
    return np.clip((2 * m) * ((db - c["min_level_db"]) / (-c["min_level_db"])) - m, -m, m)


def mel_window_start(frame_index: int, fps: float = FPS) -> int:
    """First mel column of the window of video frame ``frame_index``: ``int(80 * (i / fps))``."""
    return int(MEL_FRAMES_PER_SECOND * (frame_index / float(fps)))


def last_window_frame(n_mel_frames: int, fps: float = FPS, window: int = SYNCNET_MEL_WINDOW) -> int:
    """Largest start frame whose mel window is complete (-1 if none)."""
    i = -1
    while mel_window_start(i + 1, fps) + window <= n_mel_frames:
        i += 1
    return i


def syncnet_mel_window(
    mel: np.ndarray, frame_index: int, fps: float = FPS, window: int = SYNCNET_MEL_WINDOW
) -> np.ndarray:
    """``(1, 80, 52)`` mel window for the SyncNet sample whose first video frame is ``frame_index``.

    Same slice as LatentSync's ``crop_audio_window``; raises where LatentSync would skip the sample
    (fewer than ``window`` columns left).
    """
    if frame_index < 0:
        raise ValueError(f"frame_index must be >= 0, got {frame_index}")
    start = mel_window_start(frame_index, fps)
    out = mel[:, start : start + window]
    if out.shape[-1] != window:
        raise ValueError(
            f"mel window for frame {frame_index} has {out.shape[-1]} of {window} columns "
            f"(mel has {mel.shape[-1]}); LatentSync skips such samples"
        )
    return out[None]


def syncnet_mel_windows(mel: np.ndarray, frame_indices, fps: float = FPS) -> np.ndarray:
    """Stack of windows ``(N, 1, 80, 52)`` for several start frames (a SyncNet batch)."""
    return np.stack([syncnet_mel_window(mel, int(i), fps) for i in frame_indices])


# ----------------------------------------------------------------------------- Whisper log-mel
@cache
def _whisper_mel_filters_np() -> np.ndarray:
    fb = mel_filter_bank(
        num_frequency_bins=WHISPER_N_FFT // 2 + 1,
        num_mel_filters=WHISPER_N_MELS,
        min_frequency=0.0,
        max_frequency=SAMPLE_RATE / 2,
        sampling_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    out = np.ascontiguousarray(fb.T.astype(np.float32))  # == whisper's assets/mel_filters.npz to 1 ulp
    out.setflags(write=False)
    return out


def whisper_log_mel(audio) -> torch.Tensor:
    """float32 ``(80, N // 160)`` log-mel of the whole clip, as LatentSync's whisper computes it.

    ``audio``: int16 / float numpy array or a 1-D float tensor (kept on its device).
    """
    if torch.is_tensor(audio):
        x = audio.to(torch.float32)
    else:
        x = torch.from_numpy(np.ascontiguousarray(pcm_to_float32(audio)))
    if x.dim() != 1:
        raise ValueError(f"expected 1-D audio, got shape {tuple(x.shape)}")
    if x.shape[0] <= WHISPER_N_FFT // 2:
        raise ValueError(f"audio too short for Whisper's reflect-padded STFT: {x.shape[0]} samples")
    window = torch.hann_window(WHISPER_N_FFT, device=x.device)
    stft = torch.stft(x, WHISPER_N_FFT, WHISPER_HOP, window=window, return_complex=True)
    magnitudes = stft[:, :-1].abs() ** 2
    filters = torch.tensor(_whisper_mel_filters_np(), device=x.device)
    log_spec = torch.clamp(filters @ magnitudes, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)  # max over the WHOLE clip
    return (log_spec + 4.0) / 4.0
