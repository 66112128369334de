"""Diacritised Arabic text -> timed phones in PHONE_SET, spoken by espeak-ng.

espeak-ng's Arabic voice is both our grapheme-to-phoneme converter and the
speaker of the aligner's template: :func:`speak_phones` synthesises the text
and turns libespeak-ng's phoneme events (start times, IPA symbols, word
positions) into :class:`TimedPhone` intervals in the project's phone set.

Two facts the events do not carry are recovered here:

* vowel length -- the events say ``a`` for both /a/ and /aː/; the IPA
  transcription of the same text (``espeak-ng --ipa``) has the ``ː``, and is
  matched to the events with :class:`difflib.SequenceMatcher`;
* phone ends -- events give starts only; a phone ends where the next starts
  unless the synthetic audio falls silent first (pauses at punctuation).

A word espeak-ng can only read by switching language (a Latin or Chinese word
in an Arabic transcript) gets no phones: it is left unaligned, not guessed.

Geminates (a run of identical consonant events in one word, or one event
the IPA marks long) become one ``Cː`` phone; /aj/ /aw/ (espeak ``a i`` /
``a u``) become ``a j`` / ``a w``. The text is first respelt as it is spoken
in running speech (:func:`data_prep.arabic.connected.spoken_spelling`: the
article's alif elided inside an utterance, dagger alifs long).
"""

from __future__ import annotations

import difflib
import logging
import re
import subprocess
from dataclasses import dataclass

import numpy as np

from data_prep.arabic.normalize import PAUSE_PUNCT
from data_prep.arabic.connected import spoken_spelling
from data_prep.arabic.phoneset import CONSONANTS, LONG, base_of, espeak_to_ipa, is_vowel
from data_prep.espeak import Speech, synthesize

log = logging.getLogger(__name__)

_IPA_TOKENS = sorted(["dʒ", "dˤ", "ðˤ", "tˤ", "sˤ", "s̪", "t̪", "a.", "i.", "u.", *"abdfhijklmnqrstuwzðħɣʃʔʕθχxgɡeo"],
                     key=len, reverse=True)
_WORD = re.compile(r"\S+")
_LANG_SWITCH = re.compile(r"^\(\w+\)$")
SILENCE_DB = -40.0  # frame energy below the utterance peak that counts as silence
MIN_PAUSE_S = 0.06


@dataclass
class TimedPhone:
    start: float  # seconds
    end: float
    phone: str  # a PHONE_SET symbol
    word_index: int  # index into words_of(text); -1 if espeak spoke it outside a word


@dataclass
class SpokenText:
    """espeak-ng's rendering of a text: audio, timed phones and word spans."""

    speech: Speech
    phones: list[TimedPhone]
    words: list[tuple[float, float, int]]  # (start, end, word index) for each spoken word


def _ipa_segments(text: str, voice: str) -> list[tuple[str, bool]]:
    """(espeak symbol, is long) per segment of ``espeak-ng --ipa`` output."""
    ipa = subprocess.run(["espeak-ng", "-q", "-v", voice.split("+")[0], "--ipa", text],
                         capture_output=True, text=True, check=True).stdout
    segs: list[tuple[str, bool]] = []
    i = 0
    while i < len(ipa):
        tok = next((t for t in _IPA_TOKENS if ipa.startswith(t, i)), None)
        if tok is None:
            if ipa[i] == LONG and segs:
                segs[-1] = (segs[-1][0], True)
            i += 1
            continue
        segs.append((tok, False))
        i += len(tok)
    return segs


def _word_index_of(text: str) -> dict[int, int]:
    """1-based character position of each word start -> index among real words."""
    index, out = 0, {}
    for m in _WORD.finditer(text):
        if m.group().strip(PAUSE_PUNCT + '"%'):
            for pos in range(m.start() + 1, m.end() + 1):
                out[pos] = index
            index += 1
    return out


def _silence_starts(speech: Speech, hop_s: float = 0.01) -> np.ndarray:
    """Start times (s) of silent stretches >= MIN_PAUSE_S in the synthetic audio."""
    hop = int(hop_s * speech.sample_rate)
    n = len(speech.audio) // hop
    if n == 0:
        return np.zeros(0)
    frames = speech.audio[: n * hop].reshape(n, hop)  # (n, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    silent = db < db.max() + SILENCE_DB
    starts, run = [], 0
    for k, s in enumerate(np.append(silent, False)):
        if s:
            run += 1
        else:
            if run * hop_s >= MIN_PAUSE_S:
                starts.append((k - run) * hop_s)
            run = 0
    return np.asarray(starts)


def speak_phones(text: str, voice: str = "ar", rate: int = 160, pitch: int = 50,
                 pitch_range: int = 50) -> SpokenText:
    """Synthesise diacritised ``text`` and return its timed phones and word spans."""
    text = spoken_spelling(text)
    speech = synthesize(text, voice=voice, rate=rate, pitch=pitch, pitch_range=pitch_range)
    events = speech.phonemes
    symbols = [e.symbol for e in events]
    long_flags = [False] * len(events)
    segs = _ipa_segments(text, voice)
    matcher = difflib.SequenceMatcher(None, symbols, [s for s, _ in segs], autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            long_flags[a + k] = segs[b + k][1]
    word_of = _word_index_of(text)
    raw: list[TimedPhone] = []
    # espeak-ng reads a word it cannot say in Arabic (Latin or Chinese script, say) in another language,
    # marked by a "(en)" event; such a word gets no phones, so it stays an unaligned word
    foreign = {word_of.get(ev.text_position, -1) for ev in events if _LANG_SWITCH.match(ev.symbol)}
    for k, ev in enumerate(events):
        if word_of.get(ev.text_position, -1) in foreign - {-1} or _LANG_SWITCH.match(ev.symbol):
            continue
        nxt = symbols[k + 1] if k + 1 < len(symbols) else None
        try:
            phone = espeak_to_ipa(ev.symbol, nxt)
        except KeyError as exc:
            log.warning("%s; phone skipped", exc)
            continue
        if long_flags[k] and (is_vowel(phone) or phone in CONSONANTS):  # aː, and bː of rabːi (one event)
            phone += LONG
        raw.append(TimedPhone(ev.start, ev.start, phone, word_of.get(ev.text_position, -1)))
    return timed_text(speech, _merge(raw))


def timed_text(speech, phones: list[TimedPhone]) -> SpokenText:
    """Phones with start times (in speaking order) -> ends set at the next phone or silence, and word spans."""
    _set_ends(phones, _silence_starts(speech), speech.duration)
    words: dict[int, list[float]] = {}
    for p in phones:
        if p.word_index >= 0:
            span = words.setdefault(p.word_index, [p.start, p.end])
            span[1] = p.end
    return SpokenText(speech, phones, [(s, e, w) for w, (s, e) in sorted(words.items())])


def _merge(raw: list[TimedPhone]) -> list[TimedPhone]:
    """Merge runs of one consonant into a geminate and turn a-i / a-u glides into a-j / a-w.

    espeak-ng says الرَّحْمَن with three r events (the article's lam assimilated, then the shadda) and
    الدَّرْس as d + dː: every run of one consonant within a word is a single ``Cː``.
    """
    out: list[TimedPhone] = []
    for p in raw:
        prev = out[-1] if out else None
        same_word = prev is not None and prev.word_index == p.word_index
        if same_word and base_of(p.phone) in CONSONANTS and base_of(p.phone) == base_of(prev.phone):
            prev.phone = base_of(p.phone) + LONG
            continue
        if same_word and prev.phone == "a" and p.phone in ("i", "u"):
            p.phone = "j" if p.phone == "i" else "w"
        out.append(p)
    return out


def _set_ends(phones: list[TimedPhone], pauses: np.ndarray, duration: float) -> None:
    """A phone ends at the next start, or earlier where a pause begins after it."""
    for k, p in enumerate(phones):
        end = phones[k + 1].start if k + 1 < len(phones) else duration
        inside = pauses[(pauses > p.start + 0.02) & (pauses < end)]
        p.end = float(inside[0]) if len(inside) else end
