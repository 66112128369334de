"""The pipeline's alignment stage: transcript + audio -> timed words and phones.

The dataset pipeline aligns each normalised source once against its bare
Arabic transcript, then cuts the result per clip (:meth:`Alignment.crop`) and
stores a TextGrid plus per-frame phone and viseme ids in every shard sample.

Two aligners share the :class:`Aligner` protocol:

* ``builtin-dtw`` (:class:`BuiltinAligner`): normalise -> diacritise ->
  espeak-ng template -> DTW to the real audio (``data_prep/arabic/``);
* ``mfa``: the Montreal Forced Aligner, when ``mfa`` is on PATH and an Arabic
  acoustic model and dictionary are configured (``data_prep/arabic/mfa.py``).

``make_aligner("auto")`` picks MFA when it is usable, else the built-in one.
An aligner raises :class:`AlignmentFailed` with a machine-readable ``reason``
so the pipeline can record why a clip has no TextGrid.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from data_prep.arabic.phoneset import phone_id
from data_prep.arabic.visemes import viseme_of

log = logging.getLogger(__name__)


@dataclass
class Interval:
    start: float  # seconds
    end: float
    label: str


@dataclass
class Alignment:
    words: list[Interval]
    phones: list[Interval]  # labels are PHONE_SET symbols; silences are gaps
    confidence: float  # 0..1
    aligner: str  # "builtin-dtw" | "mfa"
    meta: dict = field(default_factory=dict)  # aligner details (template rate, diacritised text, ...)

    def crop(self, start: float, end: float) -> "Alignment":
        """Intervals overlapping [start, end), clipped to it and re-based to start = 0."""
        def cut(items: list[Interval]) -> list[Interval]:
            return [Interval(max(i.start, start) - start, min(i.end, end) - start, i.label)
                    for i in items if i.end > start and i.start < end and min(i.end, end) > max(i.start, start)]
        return Alignment(cut(self.words), cut(self.phones), self.confidence, self.aligner, dict(self.meta))

    def to_textgrid(self, duration: float) -> str:
        """Praat long-format TextGrid text with interval tiers "words" and "phones"."""
        from praatio.utilities.textgrid_io import getTextgridAsStr

        def tier(name: str, items: list[Interval]) -> dict:
            entries, last = [], 0.0
            for it in sorted(items, key=lambda i: i.start):
                s, e = max(it.start, last, 0.0), min(it.end, duration)
                if e - s > 1e-4 and it.label:
                    entries.append((round(s, 4), round(e, 4), it.label))
                    last = round(e, 4)
            return {"class": "IntervalTier", "name": name, "xmin": 0.0, "xmax": duration, "entries": entries}

        tg = {"xmin": 0.0, "xmax": duration, "tiers": [tier("words", self.words), tier("phones", self.phones)]}
        return getTextgridAsStr(tg, "long_textgrid", includeBlankSpaces=True)

    @classmethod
    def from_textgrid(cls, text: str, confidence: float = 1.0, aligner: str = "textgrid") -> "Alignment":
        """Parse TextGrid text with tiers "words" and "phones" (blank intervals dropped)."""
        from praatio.utilities.textgrid_io import parseTextgridStr

        tiers = {t["name"]: t for t in parseTextgridStr(text, includeEmptyIntervals=False)["tiers"]}
        missing = {"words", "phones"} - set(tiers)
        if missing:
            raise ValueError(f"TextGrid lacks tier(s) {sorted(missing)}; expected 'words' and 'phones'")
        def parse(name: str) -> list[Interval]:
            return [Interval(float(s), float(e), str(lab)) for s, e, lab in tiers[name]["entries"] if str(lab).strip()]
        return cls(parse("words"), parse("phones"), confidence, aligner)

    def frame_labels(self, n_frames: int, fps: int = 25) -> tuple[np.ndarray, np.ndarray]:
        """(phone_ids int16 (T,), viseme_ids int16 (T,)): the phone at each frame centre, -1 = silence."""
        phone_ids = np.full(n_frames, -1, np.int16)
        viseme_ids = np.full(n_frames, -1, np.int16)
        centres = (np.arange(n_frames) + 0.5) / fps  # (T,)
        for it in self.phones:
            hit = (centres >= it.start) & (centres < it.end)
            phone_ids[hit] = phone_id(it.label)
            viseme_ids[hit] = viseme_of(it.label)
        return phone_ids, viseme_ids


class AlignmentFailed(Exception):
    """An aligner could not align a transcript; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Aligner(Protocol):
    name: str

    def align(self, audio: np.ndarray, sample_rate: int, text: str) -> Alignment: ...


class BuiltinAligner:
    """espeak-ng template + multiscale DTW (see data_prep/arabic/dtw_aligner.py)."""

    name = "builtin-dtw"

    def __init__(self, min_confidence: float = 0.5, diacritizer: str = "text2tashkeel", voice: str = "ar",
                 base_rate: int = 160, radius: int = 12):
        self.min_confidence = min_confidence
        self.diacritizer = diacritizer
        self.voice = voice
        self.base_rate = base_rate
        self.radius = radius

    def align(self, audio: np.ndarray, sample_rate: int, text: str) -> Alignment:
        from data_prep.arabic import dtw_aligner as dtw
        from data_prep.arabic.diacritize import diacritize
        from data_prep.arabic.g2p import speak_phones
        from data_prep.arabic.normalize import normalize_text, strip_diacritics, words_of

        normalised = normalize_text(text)
        bare_words = words_of(strip_diacritics(normalised))
        if not bare_words:
            raise AlignmentFailed("empty_transcript", f"no Arabic words in {text[:40]!r}")
        real16 = dtw.to_feature_rate(np.asarray(audio).reshape(-1), sample_rate)
        if len(real16) < 0.1 * dtw.FEATURE_RATE or np.abs(real16).max() < 1e-3:  # below -60 dBFS: silence
            raise AlignmentFailed("no_speech", f"audio of {len(real16) / dtw.FEATURE_RATE:.2f} s has no speech")
        marked = diacritize(normalised, backend=self.diacritizer)
        real = dtw.mfcc_features(real16)  # (N, F)
        rate = self.base_rate
        spoken = speak_phones(marked, voice=self.voice, rate=rate)
        if not spoken.phones:
            raise AlignmentFailed("empty_transcript", f"espeak-ng spoke no phones for {marked[:40]!r}")
        tmpl16 = dtw.to_feature_rate(spoken.speech.audio, spoken.speech.sample_rate)
        ratio = dtw.speech_frames(tmpl16) / max(dtw.speech_frames(real16), 1)
        if abs(ratio - 1.0) > 0.08:  # re-speak the template at the real speaking rate
            rate = int(np.clip(round(self.base_rate * ratio), 80, 450))
            spoken = speak_phones(marked, voice=self.voice, rate=rate)
            tmpl16 = dtw.to_feature_rate(spoken.speech.audio, spoken.speech.sample_rate)
        pad_s = 0.3
        tmpl = dtw.mfcc_features(dtw.pad_template(tmpl16, pad_s))  # (M, F)
        path, _ = dtw.multiscale_dtw(real, tmpl, radius=self.radius)
        confidence = dtw.path_confidence(real, tmpl, path)
        if confidence < self.min_confidence:
            raise AlignmentFailed("low_confidence", f"confidence {confidence:.2f} < {self.min_confidence}")
        starts = dtw.warp_times(path, pad_s + np.array([p.start for p in spoken.phones]))
        ends = dtw.warp_times(path, pad_s + np.array([p.end for p in spoken.phones]))
        phones = [Interval(float(s), float(max(e, s)), p.phone) for s, e, p in zip(starts, ends, spoken.phones)]
        wst = dtw.warp_times(path, pad_s + np.array([w[0] for w in spoken.words]))
        wen = dtw.warp_times(path, pad_s + np.array([w[1] for w in spoken.words]))
        words = [Interval(float(s), float(e), bare_words[w[2]]) for s, e, w in zip(wst, wen, spoken.words)
                 if w[2] < len(bare_words)]
        return Alignment(words, phones, confidence, self.name,
                         {"diacritised": marked, "template_rate": rate, "diacritizer": self.diacritizer})


def make_aligner(kind: str = "auto", min_confidence: float = 0.5, **options) -> Aligner | None:
    """Build an aligner: "auto" (MFA if on PATH and configured, else built-in), "builtin", "mfa", "none"."""
    from data_prep.arabic import mfa

    if kind == "none":
        return None
    if kind == "builtin":
        return BuiltinAligner(min_confidence=min_confidence, **options)
    mfa_keys = {"acoustic_model", "dictionary", "mfa_command", "beam"}
    if kind == "mfa":
        return mfa.MfaAligner(min_confidence=min_confidence, **{k: v for k, v in options.items() if k in mfa_keys})
    if kind == "auto":
        if shutil.which("mfa") and options.get("acoustic_model") and options.get("dictionary"):
            return mfa.MfaAligner(min_confidence=min_confidence, **{k: v for k, v in options.items() if k in mfa_keys})
        return BuiltinAligner(min_confidence=min_confidence, **{k: v for k, v in options.items() if k not in mfa_keys})
    raise ValueError(f"aligner kind {kind!r} unknown; expected 'auto', 'builtin', 'mfa' or 'none'")
