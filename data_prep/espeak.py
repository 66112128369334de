"""Arabic speech and phoneme timings from libespeak-ng, through ctypes.

Why a binding rather than the ``espeak-ng`` command: the command line gives
audio or phoneme strings, never *when* each phoneme is spoken. The library
reports that through phoneme events (``espeakEVENT_PHONEME``) carrying the
audio position of every phoneme, which is the ground truth the generated
dataset and the aligner benchmark rely on.

libespeak-ng holds global state and is not thread safe, so one process uses
it from one thread at a time (a lock guards it); worker processes each load
their own copy.

    speech = synthesize("مَرْحَبًا", voice="ar", rate=160, pitch=50)
    speech.audio        # float32 mono in [-1, 1] at speech.sample_rate (22050)
    speech.phonemes     # [PhonemeEvent(start=0.031, symbol="m", ...), ...]
    speech.words        # [WordEvent(start=0.0, text_position=1, length=8), ...]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass, field

import numpy as np

# espeak_AUDIO_OUTPUT / espeak_EVENT_TYPE / option values from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_SENTENCE = 2
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


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


_lock = threading.Lock()
_lib = None
_sample_rate = 0


def _load() -> ctypes.CDLL:
    global _lib, _sample_rate
    if _lib is not None:
        return _lib
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise EspeakUnavailable(
            f"cannot load libespeak-ng ({name}): install the Debian packages espeak-ng and libespeak-ng1"
        ) from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options)
    if rate <= 0:
        raise EspeakUnavailable(f"espeak_Initialize failed (returned {rate}); is espeak-ng-data installed?")
    _sample_rate = rate
    _lib = lib
    return lib


def synthesize(text: str, voice: str = "ar", rate: int = 160, pitch: int = 50,
               pitch_range: int = 50, volume: int = 100) -> Speech:
    """Speak ``text`` with espeak-ng and return audio plus phoneme/word events.

    ``voice`` is an espeak-ng voice name such as ``"ar"`` or ``"ar+f3"`` (a
    variant changes the speaker's timbre); ``rate`` is words per minute
    (80..450), ``pitch`` and ``pitch_range`` are 0..100. Arabic needs
    diacritised text for correct vowels (shadda before the short vowel).
    """
    with _lock:
        lib = _load()
        chunks: list[np.ndarray] = []
        phonemes: list[PhonemeEvent] = []
        words: list[WordEvent] = []

        def on_audio(wav, n_samples, events):
            if n_samples > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                ev = events[i]
                start = ev.audio_position / 1000.0
                if ev.type == _EVENT_PHONEME:
                    symbol = ev.id.string.decode("utf-8", errors="ignore")
                    if symbol.strip():
                        phonemes.append(PhonemeEvent(start, symbol, ev.text_position))
                elif ev.type == _EVENT_WORD:
                    words.append(WordEvent(start, ev.text_position, ev.length))
                i += 1
            return 0

        callback = _SynthCallback(on_audio)  # keep a reference while synthesising
        lib.espeak_SetSynthCallback(callback)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakUnavailable(f"espeak-ng has no voice named {voice!r}")
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
                             (_PARAM_VOLUME, volume)):
            lib.espeak_SetParameter(param, int(value), 0)
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data)
        status = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise EspeakUnavailable(f"espeak_Synth failed with status {status} for text {text[:40]!r}")
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return Speech(audio.astype(np.float32) / 32768.0, _sample_rate, phonemes, words)
