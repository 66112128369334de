"""One video's soundtrack: espeak-ng sentences with pauses, at a real-world sample rate.

Each sentence is spoken by :func:`data_prep.espeak.synthesize` (22.05 kHz) and
placed on a timeline with a lead-in, short pauses between sentences and a
tail; the phoneme and word events are moved onto the same timeline, so their
start times are seconds from the start of the video. The track is then
resampled to 44.1 or 48 kHz, the rates downloaded videos actually have, and
given a random level and a faint noise floor (so it is not digitally silent
between sentences, as real recordings are not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from data_prep.espeak import synthesize
from data_prep.synth.sentences import bare_text


@dataclass
class SpokenText:
    """A soundtrack with its ground truth, all times in seconds from the start."""

    audio: np.ndarray  # (n_samples,) float32 mono in [-1, 1]
    sample_rate: int
    phonemes: list[tuple[float, str]] = field(default_factory=list)  # (start, IPA symbol)
    words: list[dict] = field(default_factory=list)  # {"start", "text", "bare"}
    spans: list[tuple[float, float]] = field(default_factory=list)  # audible speech per sentence
    sentences: list[dict] = field(default_factory=list)  # {"text", "bare", "start", "end"}

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def _audible_span(audio: np.ndarray, threshold: float = 0.02) -> tuple[int, int]:
    """First and last sample index louder than ``threshold`` x peak (whole clip if none)."""
    loud = np.nonzero(np.abs(audio) > threshold * max(float(np.abs(audio).max()), 1e-9))[0]
    return (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, len(audio))


def _word_text(text: str, position: int, length: int) -> str:
    return text[position - 1: position - 1 + length].strip(" .,،؛؟?!:")


def speak_sentences(texts: list[str], voice: str, rate: int, pitch: int, pitch_range: int,
                    sample_rate: int, rng: np.random.Generator, max_seconds: float = 8.0,
                    min_seconds: float = 3.0) -> SpokenText:
    """Speak the diacritised ``texts`` one after another into one track of ``min..max_seconds``.

    Sentences that would push the track past ``max_seconds`` are left out (the
    first one is always kept); a short track is padded with a longer tail.
    """
    src_rate = 0
    pieces: list[np.ndarray] = []
    cursor = float(rng.uniform(0.2, 0.5))  # lead-in silence, seconds
    spoken = SpokenText(np.zeros(0, np.float32), sample_rate)
    for i, text in enumerate(texts):
        speech = synthesize(text, voice=voice, rate=rate, pitch=pitch, pitch_range=pitch_range)
        src_rate = speech.sample_rate
        first, last = _audible_span(speech.audio)
        clip = speech.audio[:last]  # keep the onset so no phoneme event falls outside the clip
        start, end = cursor, cursor + len(clip) / src_rate
        if i > 0 and end + 0.3 > max_seconds:
            break
        pieces.append((start, clip))
        spoken.phonemes += [(start + p.start, p.symbol) for p in speech.phonemes]
        spoken.words += [{"start": round(start + w.start, 4), "text": _word_text(text, w.text_position, w.length),
                          "bare": bare_text(_word_text(text, w.text_position, w.length))} for w in speech.words]
        spoken.spans.append((start + first / src_rate, end))
        spoken.sentences.append({"text": text, "bare": bare_text(text), "start": round(start + first / src_rate, 4),
                                 "end": round(end, 4)})
        cursor = end + float(rng.uniform(0.3, 0.7))  # pause before the next sentence
    total = max(spoken.spans[-1][1] + float(rng.uniform(0.3, 0.6)), min_seconds)

    track = np.zeros(int(np.ceil(total * src_rate)), np.float32)
    for begin, clip in pieces:
        a = int(round(begin * src_rate))
        track[a:a + len(clip)] = clip[: len(track) - a]
    g = gcd(sample_rate, src_rate)
    audio = resample_poly(track, sample_rate // g, src_rate // g).astype(np.float32)
    audio *= float(rng.uniform(0.45, 0.9)) / max(float(np.abs(audio).max()), 1e-9)
    audio += rng.normal(0.0, 10 ** (-62 / 20), audio.shape).astype(np.float32)  # faint noise floor
    spoken.audio = np.clip(audio, -1.0, 1.0)
    spoken.phonemes = [(round(t, 4), s) for t, s in spoken.phonemes if t < total]
    return spoken
