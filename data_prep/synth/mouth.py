"""Mouth poses in time with the speech: visemes, coarticulation and loudness.

Every espeak-ng phoneme gets an articulatory target (openness, width,
rounding, teeth) and a weight saying how strongly it imposes itself on its
neighbours: bilabials (m b) must close the lips and labiodentals (f) must put
the lower lip to the teeth, so they weigh a lot; tongue and throat consonants
(t d s l k q h ...) barely touch the lips, so they weigh little and take their
shape from the surrounding vowels. A weighted Gaussian smoothing of the target
track is the coarticulation model; openness is then multiplied by the audio's
loudness envelope, so the rendered lips carry the audio's timing twice over
(what the phonemes are, and how loud they are spoken).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

TRACK_HZ = 200  # resolution of the internal articulation tracks


@dataclass(frozen=True)
class Viseme:
    openness: float  # 0 closed .. 1 wide open
    width: float  # -1 narrow .. 1 spread
    rounding: float  # 0 .. 1
    teeth: float  # 0 .. 1 upper teeth over the gap (labiodental)
    weight: float  # how strongly the target holds against its neighbours


REST = Viseme(0.0, 0.0, 0.0, 0.0, 1.5)
_OPEN = Viseme(1.0, 0.3, 0.0, 0.0, 1.0)
_FRONT = Viseme(0.45, 0.9, 0.0, 0.0, 1.0)
_ROUND = Viseme(0.4, -0.8, 1.0, 0.0, 1.0)
_MID = Viseme(0.65, 0.2, 0.3, 0.0, 1.0)
_BILABIAL = Viseme(0.0, 0.0, 0.0, 0.0, 5.0)
_LABIODENTAL = Viseme(0.12, 0.2, 0.0, 1.0, 4.0)
_LABIAL_GLIDE = Viseme(0.15, -0.9, 1.0, 0.0, 2.5)
_PALATAL = Viseme(0.25, 0.6, 0.3, 0.0, 0.6)
_POSTALVEOLAR = Viseme(0.3, -0.4, 0.7, 0.0, 1.2)
_CORONAL = Viseme(0.3, 0.3, 0.0, 0.0, 0.4)
_BACK = Viseme(0.5, 0.1, 0.0, 0.0, 0.25)

# Keyed by the IPA base letter espeak-ng reports (diacritics and length marks removed).
VISEMES: dict[str, Viseme] = {
    "a": _OPEN, "æ": _OPEN, "ɑ": _OPEN, "ɐ": _MID, "e": _MID, "ɛ": _MID, "ə": _MID,
    "i": _FRONT, "ɪ": _FRONT, "u": _ROUND, "ʊ": _ROUND, "o": _ROUND, "ɔ": _ROUND,
    "m": _BILABIAL, "b": _BILABIAL, "p": _BILABIAL,
    "f": _LABIODENTAL, "v": _LABIODENTAL,
    "w": _LABIAL_GLIDE, "j": _PALATAL,
    "ʃ": _POSTALVEOLAR, "ʒ": _POSTALVEOLAR, "dʒ": _POSTALVEOLAR, "tʃ": _POSTALVEOLAR,
    "t": _CORONAL, "d": _CORONAL, "s": _CORONAL, "z": _CORONAL, "θ": _CORONAL, "ð": _CORONAL,
    "n": _CORONAL, "l": _CORONAL, "r": _CORONAL, "ɾ": _CORONAL,
    "k": _BACK, "g": _BACK, "ɡ": _BACK, "q": _BACK, "x": _BACK, "χ": _BACK, "ɣ": _BACK, "ʁ": _BACK,
    "ħ": _BACK, "ʕ": _BACK, "h": _BACK, "ʔ": _BACK,
}


def viseme_for(symbol: str) -> Viseme:
    """The articulatory target of an espeak-ng IPA phoneme symbol ('s̪', 'dˤ', 'a.' ...)."""
    base = "".join(c for c in unicodedata.normalize("NFD", symbol)
                   if not unicodedata.combining(c) and c not in "ːˑ.ˤˠʰʲʷ'ˈˌ͡")
    if base in VISEMES:
        return VISEMES[base]
    return VISEMES.get(base[:1], _CORONAL)


@dataclass
class MouthTrack:
    """Per-frame mouth pose as rendered; frame k is shown at time k / fps."""

    openness: np.ndarray  # (T,) 0..1 after the loudness envelope
    width: np.ndarray  # (T,)
    rounding: np.ndarray  # (T,)
    teeth: np.ndarray  # (T,)
    loudness: np.ndarray  # (T,) 0..1 loudness envelope at the frame times


def articulation_targets(phonemes: list[tuple[float, str]], speech_spans: list[tuple[float, float]],
                         duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Step tracks of viseme targets -> ((N, 4) openness/width/rounding/teeth, (N,) weights) at TRACK_HZ.

    A phoneme lasts until the next one starts or its sentence's speech span ends;
    outside the speech spans the mouth rests (closed).
    """
    n = int(np.ceil(duration * TRACK_HZ)) + 1
    targets = np.zeros((n, 4))
    weights = np.full(n, REST.weight)
    events = sorted(phonemes)
    for i, (start, symbol) in enumerate(events):
        span_end = next((e for s, e in speech_spans if s - 0.1 <= start < e), start + 0.12)
        end = min(events[i + 1][0], span_end) if i + 1 < len(events) else span_end
        a, b = int(round(start * TRACK_HZ)), max(int(round(end * TRACK_HZ)), int(round(start * TRACK_HZ)) + 1)
        vis = viseme_for(symbol)
        targets[a:b] = (vis.openness, vis.width, vis.rounding, vis.teeth)
        weights[a:b] = vis.weight
    return targets, weights


def coarticulate(targets: np.ndarray, weights: np.ndarray, sigma_s: float = 0.035) -> np.ndarray:
    """Weighted Gaussian smoothing (N, 4) -> (N, 4): strong targets win over weak neighbours."""
    sigma = sigma_s * TRACK_HZ
    num = gaussian_filter1d(targets * weights[:, None], sigma, axis=0, mode="nearest")
    den = gaussian_filter1d(weights, sigma, mode="nearest")[:, None]
    return num / np.maximum(den, 1e-9)


def loudness_envelope(audio: np.ndarray, sample_rate: int, times: np.ndarray, window_s: float = 0.03) -> np.ndarray:
    """RMS of ``audio`` in a window centred on each time, scaled to 0..1 by the 95th percentile."""
    power = uniform_filter1d(np.asarray(audio, np.float64) ** 2, max(int(window_s * sample_rate), 1), mode="constant")
    idx = np.clip(np.round(np.asarray(times) * sample_rate).astype(int), 0, len(audio) - 1)
    rms = np.sqrt(power[idx])
    ref = np.percentile(rms[rms > 1e-4], 95) if np.any(rms > 1e-4) else 1.0
    return np.clip(rms / ref, 0.0, 1.0)


def mouth_track(phonemes: list[tuple[float, str]], speech_spans: list[tuple[float, float]],
                audio: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> MouthTrack:
    """Mouth pose for each of ``n_frames`` video frames from phoneme events and the audio."""
    duration = max(n_frames / fps, len(audio) / sample_rate)
    targets, weights = articulation_targets(phonemes, speech_spans, duration)
    smooth = coarticulate(targets, weights)  # (N, 4)
    track_t = np.arange(len(smooth)) / TRACK_HZ
    frame_t = np.arange(n_frames) / fps
    pose = np.stack([np.interp(frame_t, track_t, smooth[:, k]) for k in range(4)], axis=1)  # (T, 4)
    loud = loudness_envelope(audio, sample_rate, frame_t)
    # Loudness gates the opening; a square root keeps quiet vowels visibly open.
    openness = np.clip(pose[:, 0] * np.sqrt(loud), 0.0, 1.0)
    # Rounded to what the renderer resolves (1/1000 of the mouth width is far below a
    # pixel), so the truth holds exactly the pose drawn and repeated poses are drawn once.
    q = lambda x: np.round(x, 3)  # noqa: E731
    return MouthTrack(q(openness), q(pose[:, 1]), q(pose[:, 2]), q(pose[:, 3]), q(loud))
