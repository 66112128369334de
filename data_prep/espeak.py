"""Arabic (and other) speech and phoneme timings from libespeak-ng, the same whatever spoke before.

Why the library rather than the ``espeak-ng`` command: the command line gives audio or phoneme strings,
never *when* each phoneme is spoken. The library reports that through phoneme events
(``espeakEVENT_PHONEME``) carrying the audio position of every phoneme, which is the ground truth the
generated dataset and the aligner benchmark rely on.

Why every utterance runs in a fresh process (:mod:`data_prep.espeak_process`): libespeak-ng keeps state
between utterances, so the same text spoken again in one process came out a few samples longer, its
events 1 ms later, and a resumed prep run or a test that spoke a text twice did not reproduce. A child
interpreter per call costs about 0.1 s; results are cached per request in this process, which is safe
now that the same request always gives the same speech.

    speech = synthesize("مَرْحَبًا", voice="ar", rate=160, pitch=50)
    speech.audio        # float32 mono in [-1, 1] at speech.sample_rate (22050)
    speech.phonemes     # [PhonemeEvent(start=0.031, symbol="m", ...), ...]
    speech.words        # [WordEvent(start=0.0, text_position=1, length=8), ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_prep import espeak_process

_CHILD = Path(espeak_process.__file__)
_CACHE_SIZE = 256
_cache: OrderedDict[tuple, tuple[dict, bytes]] = OrderedDict()
_cache_lock = threading.Lock()  # the app speaks from several threads; the children themselves need no lock


class EspeakUnavailable(RuntimeError):
    """libespeak-ng is missing or cannot speak the requested voice."""


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme as espeak-ng spoke it: start time (s) and its IPA symbol."""

    start: float
    symbol: str
    text_position: int  # 1-based character index of the word in the input text


@dataclass(frozen=True)
class WordEvent:
    start: float
    text_position: int  # 1-based character index in the input text
    length: int  # characters


@dataclass
class Speech:
    audio: np.ndarray  # (n_samples,) float32 in [-1, 1]
    sample_rate: int
    phonemes: list[PhonemeEvent] = field(default_factory=list)
    words: list[WordEvent] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def _speak_in_child(request: dict) -> tuple[dict, bytes]:
    """Run :mod:`data_prep.espeak_process` in a fresh interpreter (``-I -S``: the standard library only)."""
    timeout = 60 + 0.05 * len(request["text"])  # espeak-ng speaks ~100x faster than real time
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", str(_CHILD)], input=json.dumps(request).encode("utf-8"),
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise EspeakUnavailable(f"espeak-ng did not finish within {timeout:.0f} s for text "
                                f"{request['text'][:40]!r}") from exc
    line, _, audio = proc.stdout.partition(b"\n")
    try:
        header = json.loads(line.decode("utf-8"))
    except ValueError:
        header = {"error": f"the espeak-ng process exited with status {proc.returncode} and no answer: "
                           f"{proc.stderr.decode(errors='replace')[-500:]}"}
    if "error" in header:
        raise EspeakUnavailable(header["error"])
    if len(audio) != 2 * header["samples"]:
        raise EspeakUnavailable(f"the espeak-ng process sent {len(audio)} bytes for {header['samples']} samples")
    return header, audio


def synthesize(text: str, voice: str = "ar", rate: int = 160, pitch: int = 50,
               pitch_range: int = 50, volume: int = 100) -> Speech:
    """Speak ``text`` with espeak-ng and return audio plus phoneme/word events.

    ``voice`` is an espeak-ng voice name such as ``"ar"`` or ``"ar+f3"`` (a
    variant changes the speaker's timbre); ``rate`` is words per minute
    (80..450), ``pitch`` and ``pitch_range`` are 0..100. Arabic needs
    diacritised text for correct vowels (shadda before the short vowel).
    The same arguments always give the same samples and events.
    """
    request = {"text": str(text), "voice": str(voice), "rate": int(rate), "pitch": int(pitch),
               "range": int(pitch_range), "volume": int(volume)}
    key = tuple(request.values())
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
    header, audio = cached if cached is not None else _speak_in_child(request)
    if cached is None:
        with _cache_lock:
            _cache[key] = (header, audio)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
    phonemes = [PhonemeEvent(start, symbol, pos) for start, symbol, pos in header["phonemes"]]
    words = [WordEvent(start, pos, length) for start, pos, length in header["words"]]
    return Speech(samples, header["sample_rate"], phonemes, words)
