"""Speech from text, by language, through one small interface: MMS-TTS (VITS) or espeak-ng.

    tts = make_tts("auto", lang="en")          # MMS when its weights resolve, else espeak-ng (one log line why)
    audio = tts.speak("Hello there")           # (N,) int16 mono at 16 kHz, the training format

Backends:

- ``mms``: transformers' ``VitsModel`` + ``AutoTokenizer`` from a Meta MMS-TTS checkpoint
  (``facebook/mms-tts-ara`` for Arabic, ``facebook/mms-tts-eng`` for English by default), named by
  hub id or local folder through :func:`data_prep.pretrained.resolve_pretrained` (offline, a model
  that is not cached is a :class:`~data_prep.pretrained.PretrainedNotAvailable` saying what to fetch).
  Arabic text is normalised first (:func:`data_prep.arabic.normalize.normalize_text`). The MMS
  Arabic tokenizer has ``is_uroman=True``: its vocabulary is romanised letters, and transformers
  romanises non-ASCII text with the ``uroman`` package *only when it is installed*; without it,
  transformers only warns and the Arabic letters are silently dropped. Here that is a
  :class:`TTSUnavailable` error at construction time instead (``pip install uroman``).
  English text goes in as it is (the tokenizer lowercases and drops characters outside its vocab).
- ``espeak``: libespeak-ng through :mod:`data_prep.espeak`, the offline fallback; Arabic text is
  diacritised first (espeak needs the vowels), English is spoken with the ``en`` voice.
- ``auto``: ``mms`` when its weights resolve (local, cached, or downloadable) and its text pipeline
  can run, else ``espeak`` with one log line saying why.

Output of every backend: ``np.ndarray`` int16, mono, at :data:`data_prep.schema.SAMPLE_RATE`
(16 kHz), resampled with ``scipy.signal.resample_poly``. An empty (or, after normalisation,
unspeakable) text is a ``ValueError``.
"""

from __future__ import annotations

import logging
import os
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.signal import resample_poly

from data_prep.pretrained import PretrainedNotAvailable, resolve_pretrained
from data_prep.schema import SAMPLE_RATE

log = logging.getLogger(__name__)

LANGS = ("ar", "en")
BACKENDS = ("auto", "mms", "espeak")
MMS_MODELS = {"ar": "facebook/mms-tts-ara", "en": "facebook/mms-tts-eng"}
ESPEAK_VOICES = {"ar": "ar", "en": "en"}
MMS_FILES = ["*.json", "*.safetensors"]


class TTSUnavailable(RuntimeError):
    """A backend cannot speak here (a missing package or library); ``auto`` falls back on it."""


@runtime_checkable
class TextToSpeech(Protocol):
    """Text -> (N,) int16 mono speech at 16 kHz."""

    lang: str
    name: str

    def speak(self, text: str) -> np.ndarray: ...


def to_int16_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Float audio in [-1, 1] at ``sample_rate`` -> int16 at 16 kHz (polyphase resampling, clipped)."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if sample_rate != SAMPLE_RATE:
        g = np.gcd(SAMPLE_RATE, int(sample_rate))
        audio = resample_poly(audio, SAMPLE_RATE // g, int(sample_rate) // g)
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def _check_text(text: str) -> str:
    if text is None or not str(text).strip():
        raise ValueError("text to speak is empty")
    return str(text)


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r}: expected one of {', '.join(LANGS)}")
    return lang


class EspeakTTS:
    """espeak-ng speech; Arabic is diacritised first (``diacritise=False`` speaks it as given)."""

    name = "espeak"

    def __init__(self, lang: str = "ar", voice: str | None = None, diacritise: bool = True):
        self.lang = _check_lang(lang)
        self.voice = voice or ESPEAK_VOICES[lang]
        self.diacritise = diacritise and lang == "ar"

    def speak(self, text: str) -> np.ndarray:
        from data_prep.espeak import synthesize

        text = _check_text(text)
        if self.diacritise:
            from data_prep.arabic.diacritize import diacritize
            try:
                text = diacritize(text)
            except Exception as err:  # the text is still speakable without vowel marks, only less accurately
                log.warning("diacritisation failed (%s); speaking the text as given", err)
        speech = synthesize(text, voice=self.voice)
        return to_int16_16k(speech.audio, speech.sample_rate)


def _uroman_available() -> bool:
    try:
        import uroman  # noqa: F401
    except ImportError:
        return False
    return True


class MmsTTS:
    """MMS-TTS (VITS) speech from a hub id or a local folder holding ``config.json``, weights and the tokenizer.

    ``seed`` makes the stochastic duration / flow sampling repeatable (the global torch RNG is left as it was);
    ``None`` samples freshly every call.
    """

    name = "mms"

    def __init__(self, lang: str = "ar", model: str | os.PathLike | None = None, device: str = "cpu",
                 seed: int | None = 0, setting: str = "tts_model"):
        import torch
        from transformers import AutoTokenizer, VitsModel

        self.lang = _check_lang(lang)
        self.model_name = str(model or MMS_MODELS[lang])
        path = resolve_pretrained(self.model_name, setting, files=MMS_FILES)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        if getattr(self.tokenizer, "is_uroman", False) and lang != "en" and not _uroman_available():
            raise TTSUnavailable(
                f"{setting}={self.model_name!r} romanises its input with uroman (tokenizer is_uroman=True), which is "
                f"not installed: `pip install uroman` (pure Python, no network needed at run time), "
                f"or use tts=espeak")
        self.model = VitsModel.from_pretrained(str(path)).to(device).eval()
        self.device = device
        self.seed = seed
        self.sample_rate = int(self.model.config.sampling_rate)
        self._torch = torch

    def prepare(self, text: str) -> str:
        """The per-language text pipeline before the tokenizer."""
        text = _check_text(text)
        if self.lang == "ar":
            from data_prep.arabic.normalize import normalize_text
            text = normalize_text(text)
        return text

    def speak(self, text: str) -> np.ndarray:
        torch = self._torch
        prepared = self.prepare(text)
        inputs = self.tokenizer(prepared, return_tensors="pt")
        ids = inputs["input_ids"]
        n_chars = (ids.shape[-1] - 1) // 2 if getattr(self.tokenizer, "add_blank", False) else ids.shape[-1]
        if n_chars <= 0:
            raise ValueError(f"text {text!r}: nothing left to speak after the {self.model_name} tokenizer "
                             f"(no character in its vocabulary)")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            if self.seed is not None:
                torch.manual_seed(self.seed)
            waveform = self.model(**inputs).waveform[0]
        return to_int16_16k(waveform.float().cpu().numpy(), self.sample_rate)


def make_tts(backend: str = "auto", lang: str = "ar", model: str | os.PathLike | None = None,
             voice: str | None = None, device: str = "cpu", diacritise: bool = True) -> TextToSpeech:
    """A text-to-speech backend by name and language (see the module docstring).

    ``model`` is the MMS checkpoint (hub id or folder; default by ``lang``), ``voice`` the espeak-ng voice
    (default by ``lang``: ``ar``, ``en``).
    """
    _check_lang(lang)
    if backend == "espeak":
        return EspeakTTS(lang, voice=voice, diacritise=diacritise)
    if backend == "mms":
        return MmsTTS(lang, model=model, device=device)
    if backend == "auto":
        try:
            return MmsTTS(lang, model=model, device=device)
        except (PretrainedNotAvailable, TTSUnavailable, ImportError) as err:
            log.warning("tts=auto: MMS-TTS unavailable, speaking with espeak-ng instead (%s)", err)
            return EspeakTTS(lang, voice=voice, diacritise=diacritise)
    raise ValueError(f"tts backend {backend!r}: expected one of {', '.join(BACKENDS)}")
