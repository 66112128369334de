"""The web app's inputs read and checked: a face source (image or video) and speech (audio file or text).

Every mistake a user can make here is a :class:`UserError` whose message is
shown in the page as it is; anything else is a bug and is logged with its
traceback. TTS backends are built once per (backend, language) and kept: an
MMS-TTS model takes seconds to load.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from data_prep.media import load_audio, read_frames
from data_prep.schema import SAMPLE_RATE
from data_prep.tts import LANGS, TextToSpeech, make_tts

log = logging.getLogger(__name__)
MIN_SPEECH_S = 0.2  # shorter speech gives no lip-sync window at all
VOICES = ("auto", "mms", "espeak")


class UserError(ValueError):
    """A request the user can fix (a missing input, an empty text, a file that does not decode)."""


def read_face_source(path: str | None) -> np.ndarray:
    """An uploaded image or video -> (T, H, W, 3) uint8 RGB frames at 25 fps."""
    if not path:
        raise UserError("Give a face: upload an image or a video.")
    try:
        return read_frames(path)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(f"The face file {Path(path).name} could not be read as an image or a video ({err}).") from err


class Speech:
    """Speech for a request: an uploaded audio file, or text spoken by a cached TTS backend."""

    def __init__(self, tts_models: dict[str, str | None] | None = None, device: str = "cpu"):
        self.tts_models = dict(tts_models or {})  # lang -> MMS hub id or folder (None: the default voice)
        self.device = device
        self._tts: dict[tuple[str, str], TextToSpeech] = {}

    def voice(self, backend: str, lang: str) -> TextToSpeech:
        """The TTS backend for (backend, lang), built on first use."""
        if lang not in LANGS:
            raise UserError(f"Language {lang!r}: choose one of {', '.join(LANGS)}.")
        if backend not in VOICES:
            raise UserError(f"Voice {backend!r}: choose one of {', '.join(VOICES)}.")
        key = (backend, lang)
        if key not in self._tts:
            try:
                self._tts[key] = make_tts(backend, lang=lang, model=self.tts_models.get(lang), device=self.device)
            except Exception as err:  # noqa: BLE001 - a voice that cannot load here is the user's to change
                raise UserError(f"The {backend} voice for {lang} is not available here ({err}); "
                                f"choose another voice.") from err
        return self._tts[key]

    def read(self, audio_path: str | None, text: str | None, lang: str, backend: str) -> tuple[np.ndarray, str]:
        """-> ((N,) int16 16 kHz speech, how it was made). Audio wins when both are given."""
        if audio_path:
            try:
                audio = load_audio(audio_path)
            except (ValueError, FileNotFoundError) as err:
                raise UserError(f"The audio file {Path(audio_path).name} does not decode as audio ({err}).") from err
            how = f"audio file {Path(audio_path).name}"
        else:
            if text is None or not text.strip():
                raise UserError("The text is empty: type what the face should say, or upload an audio file.")
            tts = self.voice(backend, lang)
            try:
                audio = tts.speak(text)
            except ValueError as err:  # nothing speakable after normalisation
                raise UserError(f"The text could not be spoken: {err}") from err
            how = f"text spoken by {tts.name} ({lang})"
        if len(audio) < MIN_SPEECH_S * SAMPLE_RATE:
            raise UserError(f"The speech is {len(audio) / SAMPLE_RATE:.2f} s long; give at least {MIN_SPEECH_S} s.")
        return audio, how
