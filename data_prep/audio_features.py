"""Audio features for the SyncNet expert, computed in the data loader, and the one owner of audio windows.

Features are computed once per clip and sliced per window, which is why a clip
can feed many windows cheaply. Three kinds (``WindowSpec.audio_kind``):

- ``mel`` (:func:`log_mel`): 80-bin log-mel spectrogram, mean/variance normalised per
  clip (robust to recording gain), for the StableSyncNet-style expert.
- ``mfcc`` (:func:`mfcc`): 13 MFCCs from ``python_speech_features.mfcc`` with its defaults
  (pre-emphasis 0.97, 26 filters, 512-point FFT, lifter 22, c0 replaced by log
  frame energy), which is what syncnet_python feeds the official ``syncnet_v2``
  model and what the LSE scorer (``evaluation/metrics/lse.py``) uses.
- ``latentsync_mel``: LatentSync's StableSyncNet mel (:func:`data_prep.latentsync_audio.syncnet_mel`,
  Wav2Lip settings, 80 columns per second), for its released expert.

``mel`` and ``mfcc`` run at 100 steps per second (10 ms hop, 25 ms window), so a
25 fps video frame ``t`` owns exactly feature steps ``4t .. 4t + 4`` and a window
of ``T`` frames owns ``4T`` steps. ``latentsync_mel`` runs at 80 per second: the
window of frames ``s .. s + T`` is ``ceil(T / 5 * 16)`` columns from ``int(80 s / 25)``
(LatentSync's ``crop_audio_window``; 52 columns for 16 frames), so windows are not
a fixed stride apart. Every consumer therefore cuts windows through
:func:`audio_window`, :func:`frames_covered` and :func:`audio_context` instead of
multiplying by a step count.
"""

from __future__ import annotations

from functools import lru_cache

import math

import numpy as np
import python_speech_features

from data_prep.schema import SAMPLE_RATE, SAMPLES_PER_FRAME

HOP = 160  # 10 ms at 16 kHz
WIN = 400  # 25 ms
N_FFT = 512
STEPS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4, for the 100 Hz kinds
AUDIO_KINDS = ("mel", "mfcc", "latentsync_mel")


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


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`AUDIO_KINDS`, else a ValueError naming ``data.audio_kind``."""
    if kind not in AUDIO_KINDS:
        raise ValueError(f"data.audio_kind={kind!r}: expected one of {AUDIO_KINDS}")
    return kind


def clip_features(audio: np.ndarray, kind: str, n_bins: int) -> np.ndarray:
    """(N,) int16 16 kHz clip -> (n_bins, steps) float32 features of ``kind`` (see the module docstring)."""
    if check_kind(kind) == "mel":
        return log_mel(audio, n_bins)
    if kind == "mfcc":
        return mfcc(audio, n_bins)
    from data_prep.latentsync_audio import SYNCNET_MEL_CONFIG, syncnet_mel  # torch + transformers: only when asked

    if n_bins != SYNCNET_MEL_CONFIG["num_mels"]:
        raise ValueError(f"data.n_audio_bins={n_bins}: audio_kind 'latentsync_mel' has "
                         f"{SYNCNET_MEL_CONFIG['num_mels']} mel bins")
    return syncnet_mel(audio).astype(np.float32)


def window_start(kind: str, frame: int) -> int:
    """First feature step of the audio window whose first video frame (25 fps) is ``frame``."""
    if check_kind(kind) == "latentsync_mel":
        return int(80.0 * (frame / 25.0))  # LatentSync's crop_audio_window (data_prep.latentsync_audio)
    return STEPS_PER_FRAME * frame


def window_steps(kind: str, n_frames: int) -> int:
    """Feature steps in the audio window of ``n_frames`` video frames (4 n, or LatentSync's ``ceil(n / 5 * 16)``)."""
    if check_kind(kind) == "latentsync_mel":
        return math.ceil(n_frames / 5 * 16)
    return STEPS_PER_FRAME * n_frames


def audio_window(features, kind: str, start: int, n_frames: int):
    """(F, steps) clip features (numpy or torch) -> (F, window_steps) audio of video frames ``start .. start + n``.

    Raises where the window is incomplete (LatentSync skips such samples); starts
    ``0 .. frames_covered(...) - n_frames`` never are.
    """
    lo = window_start(kind, start)
    hi = lo + window_steps(kind, n_frames)
    if start < 0 or hi > features.shape[-1]:
        raise ValueError(f"audio window of frames {start}..{start + n_frames} ({kind}: steps {lo}..{hi}) is outside "
                         f"the clip's {features.shape[-1]} feature steps")
    return features[..., lo:hi]


def frames_covered(n_steps: int, kind: str, n_frames: int) -> int:
    """How many video frames ``n_steps`` feature steps cover, for windows of ``n_frames`` frames.

    Every start ``0 .. result - n_frames`` has a complete :func:`audio_window`. For ``mel`` / ``mfcc``
    this is ``n_steps // 4``; for ``latentsync_mel`` it is found from the window formula
    (a clip of ``T * 640`` samples has ``1 + 3.2 T`` columns and covers ``T`` frames).
    """
    if check_kind(kind) != "latentsync_mel":
        return n_steps // STEPS_PER_FRAME
    length = window_steps(kind, n_frames)
    last = max(-1, int((n_steps - length) * 25 / 80) - 2)  # a guess a little low, then walk up
    while window_start(kind, last + 1) + length <= n_steps:
        last += 1
    if last < 0:  # not even one window: the frames the columns span, fewer than n_frames
        return min(n_frames - 1, int(n_steps * 25 / 80))
    return last + n_frames


def context_steps(kind: str, n_frames: int, max_offset: int) -> int:
    """Length of :func:`audio_context`: room for the windows of starts ``s - m .. s + m`` for any ``s``."""
    if check_kind(kind) == "latentsync_mel":  # int(a + b) - int(a) <= ceil(b)
        return math.ceil(80.0 * 2 * max_offset / 25.0) + window_steps(kind, n_frames)
    return STEPS_PER_FRAME * (n_frames + 2 * max_offset)


def audio_context(features, kind: str, start: int, n_frames: int, max_offset: int):
    """Audio around one window, for the offset search: -> ``(context (F, C), offsets (2m + 1,) int64)``.

    The window of the video window ``start`` shifted by ``k - m`` frames (``k = 0 .. 2m``) is
    ``context[:, offsets[k] : offsets[k] + window_steps]``. ``C = context_steps(...)`` is the same for
    every start (so contexts batch); for the 100 Hz kinds ``context`` is the plain slice of frames
    ``start - m .. start + n + m`` and ``offsets = 4 k``. Raises where a shifted window is incomplete.
    """
    if start < max_offset:
        raise ValueError(f"audio context of frame {start} needs {max_offset} frames before it")
    audio_window(features, kind, start + max_offset, n_frames)  # the last shifted window must be complete
    lo = window_start(kind, start - max_offset)
    offsets = np.array([window_start(kind, start - max_offset + k) - lo for k in range(2 * max_offset + 1)], np.int64)
    ctx = features[..., lo:lo + context_steps(kind, n_frames, max_offset)]
    short = context_steps(kind, n_frames, max_offset) - ctx.shape[-1]
    if short:  # latentsync_mel near the clip end: the columns past the last window are never read
        ctx = np.concatenate([ctx, np.zeros((*ctx.shape[:-1], short), ctx.dtype)], -1)
    return ctx, offsets
