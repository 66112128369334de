"""Audio features for the SyncNet expert, computed in the data loader.

Both feature kinds run at 100 steps per second (10 ms hop, 25 ms window), so a
25 fps video frame ``t`` owns exactly feature steps ``4t .. 4t + 4`` and a
window of ``T`` frames owns ``4T`` steps. Features are computed once per clip
and sliced per window, which is why a clip can feed many windows cheaply.

- :func:`log_mel`: 80-bin log-mel spectrogram, mean/variance normalised per
  clip (robust to recording gain), for the StableSyncNet-style expert.
- :func:`mfcc`: 13 MFCCs from ``python_speech_features.mfcc`` with its defaults
  (pre-emphasis 0.97, 26 filters, 512-point FFT, lifter 22, c0 replaced by log
  frame energy), which is what syncnet_python feeds the official ``syncnet_v2``
  model and what the LSE scorer (``evaluation/metrics/lse.py``) uses.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import python_speech_features

from data_prep.schema import SAMPLE_RATE, SAMPLES_PER_FRAME

HOP = 160  # 10 ms at 16 kHz
WIN = 400  # 25 ms
N_FFT = 512
STEPS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4


@lru_cache(maxsize=8)
def mel_filterbank(n_filters: int, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular HTK-mel filters on FFT bins -> (n_filters, n_fft // 2 + 1), python_speech_features' own."""
    return python_speech_features.get_filterbanks(n_filters, n_fft, sample_rate)


def _frame_power(audio: np.ndarray, n_steps: int) -> np.ndarray:
    """int16 or float samples -> (n_steps, N_FFT // 2 + 1) power spectra of un-centred 25 ms frames."""
    x = audio.astype(np.float64)
    need = (n_steps - 1) * HOP + WIN
    x = np.pad(x, (0, max(0, need - len(x))))
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n_steps)[:, None]
    frames = x[idx]  # (n_steps, WIN)
    return np.abs(np.fft.rfft(frames, N_FFT)) ** 2 / N_FFT


def n_steps_for(audio: np.ndarray) -> int:
    """Feature steps for a clip: 4 per video frame (partial last frame rounded up)."""
    return STEPS_PER_FRAME * -(-len(audio) // SAMPLES_PER_FRAME)


def log_mel(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """(N,) int16 16 kHz -> (n_mels, 4 * N / 640) float32 log-mel, normalised per clip."""
    power = _frame_power(audio, n_steps_for(audio))
    mel = np.log(power @ mel_filterbank(n_mels).T + 1e-6).T  # (n_mels, steps)
    mel = (mel - mel.mean()) / (mel.std() + 1e-5)
    return mel.astype(np.float32)


def mfcc(audio: np.ndarray, n_ceps: int = 13, n_filters: int = 26, lifter: int = 22) -> np.ndarray:
    """(N,) int16 16 kHz -> (n_ceps, 4 * N / 640) float32 MFCCs (python_speech_features defaults)."""
    n_steps = n_steps_for(audio)
    # python_speech_features makes 1 + ceil((N - WIN) / HOP) frames, one short of 4 per video
    # frame; zero-padding to (n_steps - 1) * HOP + WIN samples gives exactly n_steps. The padding
    # goes after the pre-emphasis, as the library pads its own frames, so the shared frames agree.
    x = python_speech_features.sigproc.preemphasis(audio.astype(np.float64), 0.97)
    x = np.pad(x, (0, max(0, (n_steps - 1) * HOP + WIN - len(x))))
    ceps = python_speech_features.mfcc(x, SAMPLE_RATE, numcep=n_ceps, nfilt=n_filters, nfft=N_FFT,
                                       preemph=0.0, ceplifter=lifter)  # (steps, n_ceps)
    return ceps[:n_steps].T.astype(np.float32)  # (n_ceps, steps)


def clip_features(audio: np.ndarray, kind: str, n_bins: int) -> np.ndarray:
    """Dispatch on the config name: ``mel`` -> :func:`log_mel`, ``mfcc`` -> :func:`mfcc`."""
    if kind == "mel":
        return log_mel(audio, n_bins)
    if kind == "mfcc":
        return mfcc(audio, n_bins)
    raise ValueError(f"audio feature kind {kind!r}: expected 'mel' or 'mfcc'")
