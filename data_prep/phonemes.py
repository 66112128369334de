"""The pipeline's alignment stage: transcript + audio -> timed words and phones.

The dataset pipeline aligns each normalised source once against its bare
Arabic transcript, then cuts the result per clip (:meth:`Alignment.crop`) and
stores a TextGrid plus per-frame phone and viseme ids in every shard sample.

Two aligners share the :class:`Aligner` protocol:

* ``builtin-dtw`` (:class:`BuiltinAligner`): normalise -> diacritise ->
  espeak-ng template -> DTW to the real audio (``data_prep/arabic/``), judged
  by phonet's phone posteriors (``data_prep/arabic/posterior_margin.py``);
* ``ctc`` (:class:`data_prep.ctc_aligner.CtcAligner`): a multilingual CTC
  acoustic model (MMS) and Viterbi forced alignment, when its weights are here;
* ``mfa``: the Montreal Forced Aligner, when ``mfa`` is on PATH and an Arabic
  acoustic model and dictionary are configured (``data_prep/arabic/mfa.py``).

``make_aligner("auto")`` picks MFA when it is usable, else CTC when its weights
can be had, else the built-in one (offline). Every language espeak-ng speaks
is aligned: Arabic through normalisation, diacritisation and the Arabic G2P,
others through ``data_prep.espeak_g2p``; a word the G2P cannot read is listed
in ``meta["unaligned_words"]`` and the rest of the source keeps its alignment.
An aligner raises :class:`AlignmentFailed` with a machine-readable ``reason``
so the pipeline can record why a clip has no TextGrid.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from data_prep.phone_inventory import is_arabic, phone_id, phone_set_name, viseme_of

log = logging.getLogger(__name__)
# the confidence below which an alignment is refused: the built-in aligner's gate, measured on real recordings
# (0.35 = a relative phone-posterior margin of 0.20 and a per-frame one of 0.10; README "Alignment on real
# speech"). The pipeline's
# phonemes.min_confidence and make_aligner() default to it, so a user calling an aligner directly gets the
# same gate the shards were built with
DEFAULT_MIN_CONFIDENCE = 0.35


@dataclass
class Interval:
    start: float  # seconds
    end: float
    label: str


@dataclass
class Alignment:
    words: list[Interval]
    phones: list[Interval]  # labels are phone_inventory.ALL_PHONES symbols; silences are gaps
    confidence: float  # 0..1
    aligner: str  # "builtin-dtw" | "ctc" | "mfa"
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
    """``lang`` is the manifest's language (an espeak-ng voice name; "ar" is Arabic)."""

    name: str

    def align(self, audio: np.ndarray, sample_rate: int, text: str, lang: str = "ar") -> Alignment: ...


class BuiltinAligner:
    """espeak-ng template + multiscale DTW (see data_prep/arabic/dtw_aligner.py)."""

    name = "builtin-dtw"

    def __init__(self, min_confidence: float = DEFAULT_MIN_CONFIDENCE, diacritizer: str = "text2tashkeel",
                 voice: str = "ar", base_rate: int = 160, radius: int = 12, posterior_model: str | None = "phonet"):
        self.min_confidence = min_confidence
        self.posterior_model = posterior_model
        self.diacritizer = diacritizer
        self.voice = voice
        self.base_rate = base_rate
        self.radius = radius

    def align(self, audio: np.ndarray, sample_rate: int, text: str, lang: str = "ar") -> Alignment:
        from data_prep.arabic import dtw_aligner as dtw
        from data_prep.espeak import EspeakUnavailable

        marked, bare_words, speak = self._text(text, lang)
        real16 = dtw.to_feature_rate(np.asarray(audio).reshape(-1), sample_rate)
        if len(real16) < 0.1 * dtw.FEATURE_RATE or np.abs(real16).max() < 1e-3:  # below -60 dBFS: silence
            raise AlignmentFailed("no_speech", f"audio of {len(real16) / dtw.FEATURE_RATE:.2f} s has no speech")
        real = dtw.mfcc_features(real16)  # (N, F)
        rate = self.base_rate
        try:
            spoken = speak(marked, rate)
        except EspeakUnavailable as exc:
            raise AlignmentFailed("unsupported_language", f"lang={lang!r}: {exc}") from None
        if not spoken.phones:
            raise AlignmentFailed("empty_transcript", f"espeak-ng spoke no phones for {marked[:40]!r}")
        tmpl16 = dtw.to_feature_rate(spoken.speech.audio, spoken.speech.sample_rate)
        ratio = dtw.speech_frames(tmpl16) / max(dtw.speech_frames(real16), 1)
        if abs(ratio - 1.0) > 0.08:  # re-speak the template at the real speaking rate
            rate = int(np.clip(round(self.base_rate * ratio), 80, 450))
            spoken = speak(marked, rate)
            tmpl16 = dtw.to_feature_rate(spoken.speech.audio, spoken.speech.sample_rate)
        pad_s = 0.3
        tmpl = dtw.mfcc_features(dtw.pad_template(tmpl16, pad_s))  # (M, F)
        path, cost = dtw.multiscale_dtw(real, tmpl, radius=self.radius)
        starts = dtw.warp_times(path, pad_s + np.array([p.start for p in spoken.phones]))
        margin, relative, judge, null_costs, confidence = self._margin(real16, tmpl16, pad_s, spoken.phones, starts)
        if confidence < self.min_confidence:
            detail = f"null-model margin {margin:.3f}" + ("" if relative is None else f", relative {relative:.3f}")
            raise AlignmentFailed("low_confidence", f"confidence {confidence:.2f} < {self.min_confidence} ({detail})")
        ends = dtw.warp_times(path, pad_s + np.array([p.end for p in spoken.phones]))
        phones = [Interval(float(s), float(max(e, s)), p.phone) for s, e, p in zip(starts, ends, spoken.phones)]
        wst = dtw.warp_times(path, pad_s + np.array([w[0] for w in spoken.words]))
        wen = dtw.warp_times(path, pad_s + np.array([w[1] for w in spoken.words]))
        words = [Interval(float(s), float(e), bare_words[w[2]]) for s, e, w in zip(wst, wen, spoken.words)
                 if w[2] < len(bare_words)]
        spoken_index = {w[2] for w in spoken.words}
        # a word the G2P could not read (dialect spelling, a foreign script) stays in the transcript
        # but gets no interval; the rest of the source keeps its alignment
        unaligned = [w for k, w in enumerate(bare_words) if k not in spoken_index]
        return Alignment(words, phones, confidence, self.name,
                         {"diacritised": marked, "template_rate": rate, "diacritizer": self.diacritizer,
                          "margin": round(margin, 4), "path_cost": round(cost, 4),
                          "relative_margin": None if relative is None else round(relative, 4),
                          "confidence_model": judge, "null_scores": [round(c, 4) for c in null_costs],
                          "unaligned_words": unaligned,
                          "lang": lang, "phone_set": phone_set_name(lang)})

    def _margin(self, real16: np.ndarray, tmpl16: np.ndarray, pad_s: float, phones, phone_starts: np.ndarray):
        """(margin, relative margin, confidence model, null scores, confidence): phone posteriors when
        there are any, else DTW.

        With phonet's weights, and every phone in its map (Arabic, English and the other phones of
        data_prep/phone_inventory.py): :func:`~data_prep.arabic.posterior_margin.posterior_margin` and
        :func:`~data_prep.arabic.posterior_margin.relative_margin` on the transcript's phones (banded
        around ``phone_starts``, the DTW's phone times, on long recordings).
        Otherwise (``posterior_model=None``, no phonet installed, a phone not in the
        map): the coarse-feature DTW margin against the espeak-ng template
        (:func:`~data_prep.arabic.dtw_aligner.null_margin`); it has no relative margin (None).
        """
        from data_prep.arabic import dtw_aligner as dtw
        from data_prep.arabic import posterior_margin as pm

        model = self._phone_model() if pm.covers(p.phone for p in phones) else None
        if model is not None:
            posteriors, labels = model.posteriors(real16), [(p.phone, p.word_index) for p in phones]
            margin, right, nulls = pm.posterior_margin(posteriors, labels, phone_starts=phone_starts)
            relative = pm.relative_margin(posteriors, labels, right, nulls)
            return margin, relative, "phonet-posteriors", nulls, pm.posterior_confidence(margin, relative)
        margin, _, nulls = dtw.null_margin(real16, tmpl16, pad_s, radius=self.radius)
        return margin, None, "coarse-dtw", nulls, dtw.margin_confidence(margin)

    def _phone_model(self):
        """phonet's phone model, or None (``posterior_model=None``, or the default "phonet" not installed)."""
        if self.posterior_model is None:
            return None
        from data_prep.arabic.phonet_model import PhonetUnavailable, load_phone_model

        try:
            return load_phone_model(self.posterior_model)
        except PhonetUnavailable as missing:
            if self.posterior_model != "phonet":  # a folder named explicitly must exist
                raise
            log.warning(f"builtin aligner: {missing}; judging alignments by the weaker coarse-DTW margin")
            self.posterior_model = None
            return None

    def _text(self, text: str, lang: str):
        """(text for espeak-ng, bare words, speak(text, rate) -> SpokenText) for ``lang``.

        Arabic is normalised and diacritised and spoken by the Arabic G2P; any other language
        is only whitespace-normalised and spoken by espeak-ng's voice of that name.
        """
        if is_arabic(lang):
            from data_prep.arabic.diacritize import diacritize
            from data_prep.arabic.g2p import speak_phones
            from data_prep.arabic.normalize import normalize_text, strip_diacritics, words_of

            normalised = normalize_text(text)
            bare_words = words_of(strip_diacritics(normalised))
            if not bare_words:
                raise AlignmentFailed("empty_transcript", f"no Arabic words in {text[:40]!r}")
            marked = diacritize(normalised, backend=self.diacritizer)
            return marked, bare_words, lambda t, rate: speak_phones(t, voice=self.voice, rate=rate)
        from data_prep.arabic.normalize import words_of
        from data_prep.espeak_g2p import normalize_plain, speak_phones_lang

        plain = normalize_plain(text)
        bare_words = words_of(plain)
        if not bare_words:
            raise AlignmentFailed("empty_transcript", f"no words in {text[:40]!r}")
        return plain, bare_words, lambda t, rate: speak_phones_lang(t, voice=lang, rate=rate)


def make_aligner(kind: str = "auto", min_confidence: float = DEFAULT_MIN_CONFIDENCE, **options) -> Aligner | None:
    """Build an aligner: "auto", "ctc", "builtin", "mfa" or "none".

    "auto" takes MFA when ``mfa`` is on PATH and its model and dictionary are given, else the CTC
    aligner when its weights (``ctc_model``: hub id or folder) are local, cached or downloadable,
    else the built-in DTW aligner (the offline path); the chosen one is logged and every
    :class:`Alignment` names its aligner.
    """
    from data_prep.arabic import mfa

    if kind == "none":
        return None
    mfa_keys = {"acoustic_model", "dictionary", "mfa_command", "beam"}
    ctc_keys = {"ctc_model", "device"}
    mfa_opts = {k: v for k, v in options.items() if k in mfa_keys}
    builtin_opts = {k: v for k, v in options.items() if k not in mfa_keys | ctc_keys}
    ctc_opts = {("model" if k == "ctc_model" else k): v for k, v in options.items()
                if k in ctc_keys | {"diacritizer"} and v is not None}
    if kind == "builtin":
        return BuiltinAligner(min_confidence=min_confidence, **builtin_opts)
    if kind == "mfa":
        return mfa.MfaAligner(min_confidence=min_confidence, **mfa_opts)
    if kind == "ctc":
        from data_prep.ctc_aligner import CtcAligner

        return CtcAligner(min_confidence=min_confidence, **ctc_opts)
    if kind == "auto":
        if shutil.which("mfa") and options.get("acoustic_model") and options.get("dictionary"):
            return mfa.MfaAligner(min_confidence=min_confidence, **mfa_opts)
        if options.get("ctc_model", "default") is not None:
            from data_prep.ctc_aligner import CtcAligner
            from data_prep.pretrained import PretrainedNotAvailable

            try:
                aligner = CtcAligner(min_confidence=min_confidence, **ctc_opts)
                log.info("phonemes.aligner=auto: the CTC aligner with %s", aligner.model_name)
                return aligner
            except PretrainedNotAvailable as missing:
                log.warning("phonemes.aligner=auto: no CTC weights (%s); using the built-in DTW aligner",
                            str(missing).split(";")[0])
        return BuiltinAligner(min_confidence=min_confidence, **builtin_opts)
    raise ValueError(f"aligner kind {kind!r} unknown; expected 'auto', 'ctc', 'builtin', 'mfa' or 'none'")
