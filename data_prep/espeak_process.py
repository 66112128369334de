"""One utterance spoken by libespeak-ng in a process of its own: the ctypes binding and its command.

Why a process per utterance: libespeak-ng keeps state between utterances that no call resets (the same
text spoken twice in one process gives 44,655 then 44,660 samples, with phoneme events 1 ms apart;
``espeak_Terminate`` followed by a new ``espeak_Initialize`` hangs). Everything that must be reproducible
(prep resume, the aligner's templates, the demo's seeds, a test that speaks a text again to measure it)
needs speech that does not depend on what the process spoke before, so :func:`data_prep.espeak.synthesize`
runs this file as a fresh interpreter for every utterance (about 0.1 s each).

This module uses the standard library only, so the child starts fast and imports nothing of the project.
The parent sends one JSON request on standard input::

    {"text": "...", "voice": "ar", "rate": 160, "pitch": 50, "range": 50, "volume": 100}

and reads one JSON header line, then the audio as raw native-endian int16 samples::

    {"sample_rate": 22050, "samples": N, "phonemes": [[start_s, "m", text_pos], ...],
     "words": [[start_s, text_pos, length], ...]}\\n<N * 2 bytes>

or, on failure, a header ``{"error": "..."}`` and exit status 2.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sys

# espeak_AUDIO_OUTPUT / espeak_EVENT_TYPE / option values from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
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


class SpeakError(RuntimeError):
    """libespeak-ng is missing, has no such voice, or failed to speak."""


def _load() -> tuple[ctypes.CDLL, int]:
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise SpeakError(f"cannot load libespeak-ng ({name}): install the Debian packages espeak-ng and "
                         f"libespeak-ng1") from exc
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
        raise SpeakError(f"espeak_Initialize failed (returned {rate}); is espeak-ng-data installed?")
    return lib, rate


def speak(request: dict) -> tuple[dict, bytes]:
    """One utterance: the header (sample rate, phoneme and word events) and the int16 audio bytes."""
    lib, sample_rate = _load()
    chunks: list[bytes] = []
    phonemes: list[list] = []
    words: list[list] = []

    def on_audio(wav, n_samples, events):
        if n_samples > 0:
            chunks.append(ctypes.string_at(wav, n_samples * ctypes.sizeof(ctypes.c_short)))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            start = ev.audio_position / 1000.0
            if ev.type == _EVENT_PHONEME:
                symbol = ev.id.string.decode("utf-8", errors="ignore")
                if symbol.strip():
                    phonemes.append([start, symbol, ev.text_position])
            elif ev.type == _EVENT_WORD:
                words.append([start, ev.text_position, ev.length])
            i += 1
        return 0

    callback = _SynthCallback(on_audio)  # keep a reference while synthesising
    lib.espeak_SetSynthCallback(callback)
    voice = str(request["voice"])
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise SpeakError(f"espeak-ng has no voice named {voice!r}")
    for param, key in ((_PARAM_RATE, "rate"), (_PARAM_PITCH, "pitch"), (_PARAM_RANGE, "range"),
                       (_PARAM_VOLUME, "volume")):
        lib.espeak_SetParameter(param, int(request[key]), 0)
    data = str(request["text"]).encode("utf-8") + b"\0"
    buf = ctypes.create_string_buffer(data)
    status = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    if status != 0:
        raise SpeakError(f"espeak_Synth failed with status {status} for text {request['text'][:40]!r}")
    audio = b"".join(chunks)
    header = {"sample_rate": sample_rate, "samples": len(audio) // 2, "phonemes": phonemes, "words": words}
    return header, audio


def main() -> int:
    out = sys.stdout.buffer
    try:
        header, audio = speak(json.loads(sys.stdin.buffer.read().decode("utf-8")))
    except (SpeakError, KeyError, ValueError) as err:
        out.write(json.dumps({"error": str(err)}).encode() + b"\n")
        return 2
    out.write(json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n")
    out.write(audio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
