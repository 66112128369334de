"""Montreal Forced Aligner (MFA) as an optional second aligner.

MFA is a conda tool (``conda install -c conda-forge montreal-forced-aligner``),
not a pip dependency; this module only shells out to ``mfa`` when it is on
PATH. No pretrained Arabic acoustic model is published for MFA, so the user
passes one trained on our own shards (README: "Training an Arabic MFA model")
plus a pronunciation dictionary in PHONE_SET symbols (:func:`write_dictionary`
writes one from espeak-ng's G2P of diacritised words).

``MfaAligner.align`` writes the audio and the bare transcript into a temporary
corpus, runs ``mfa align --clean --single_speaker``, and reads the TextGrid
back. Its confidence is the share of words MFA did not mark unknown
(``<unk>`` / ``spn``): MFA reports no per-utterance score we can compare
across clips.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def mfa_available(command: str = "mfa") -> bool:
    return shutil.which(command) is not None


def write_dictionary(words: list[str], path: str | Path, diacritizer: str = "text2tashkeel") -> int:
    """Write an MFA dictionary (``bare_word<TAB>phone phone ...``) for ``words``; returns entries written."""
    from data_prep.arabic.diacritize import diacritize
    from data_prep.arabic.g2p import speak_phones
    from data_prep.arabic.normalize import strip_diacritics

    lines = []
    for word in sorted(set(words)):
        phones = [p.phone for p in speak_phones(diacritize(word, backend=diacritizer)).phones]
        if phones:
            lines.append(f"{strip_diacritics(word)}\t{' '.join(phones)}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


class MfaAligner:
    """Runs ``mfa align`` on one utterance at a time (see module docstring)."""

    name = "mfa"

    def __init__(self, acoustic_model: str | None = None, dictionary: str | None = None,
                 min_confidence: float = 0.5, mfa_command: str = "mfa", beam: int = 100):
        if not mfa_available(mfa_command):
            raise FileNotFoundError(f"{mfa_command!r} is not on PATH; install montreal-forced-aligner with conda")
        if not acoustic_model or not dictionary:
            raise ValueError("MfaAligner needs acoustic_model= and dictionary= paths (no Arabic model is published)")
        self.acoustic_model, self.dictionary = str(acoustic_model), str(dictionary)
        self.min_confidence, self.command, self.beam = min_confidence, mfa_command, beam

    def align(self, audio: np.ndarray, sample_rate: int, text: str, lang: str = "ar"):
        from data_prep.arabic.normalize import normalize_text, strip_diacritics, words_of
        from data_prep.phone_inventory import is_arabic
        from data_prep.phonemes import Alignment, AlignmentFailed

        if not is_arabic(lang):
            raise AlignmentFailed("unsupported_language", f"the MFA path is set up for Arabic, not lang={lang!r}")
        words = words_of(strip_diacritics(normalize_text(text)))  # pause punctuation is not a word
        if not words:
            raise AlignmentFailed("empty_transcript", f"no Arabic words in {text[:40]!r}")
        bare = " ".join(words)
        with tempfile.TemporaryDirectory(prefix="mfa_") as tmp:
            corpus, out = Path(tmp, "corpus"), Path(tmp, "out")
            corpus.mkdir()
            with wave.open(str(corpus / "utt.wav"), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(sample_rate)
                w.writeframes(np.asarray(audio, np.int16).tobytes())
            (corpus / "utt.lab").write_text(bare, encoding="utf-8")
            cmd = [self.command, "align", "--clean", "--single_speaker", "--beam", str(self.beam),
                   str(corpus), self.dictionary, self.acoustic_model, str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            grid = out / "utt.TextGrid"
            if proc.returncode != 0 or not grid.exists():
                raise AlignmentFailed("mfa_error", (proc.stderr or proc.stdout)[-300:])
            ali = Alignment.from_textgrid(grid.read_text(encoding="utf-8"), aligner=self.name)
        unknown = {"<unk>", "spn", "sil", ""}
        ali.phones = [p for p in ali.phones if p.label not in unknown]
        known = [w for w in ali.words if w.label not in unknown]
        ali.confidence = len(known) / len(words)
        if ali.confidence < self.min_confidence:
            raise AlignmentFailed("low_confidence", f"MFA aligned {ali.confidence:.0%} of the words")
        return ali
