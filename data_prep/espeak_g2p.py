"""Timed phones for any espeak-ng language other than Arabic (English, French, ...).

Arabic has its own G2P (``data_prep.arabic.g2p``: diacritised input, vowel
length from ``--ipa``, geminates merged). Other languages need none of that:
espeak-ng reads their ordinary spelling, and its IPA phoneme events already
carry length (``ɜː``) and affricates (``tʃ``). This module turns those events
into :class:`~data_prep.arabic.g2p.SpokenText` with phones folded onto
``data_prep.phone_inventory`` (stress dropped; a symbol we do not list is
skipped with a warning and becomes a gap, never a failure), so the DTW and CTC
aligners handle every language through one code path.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from data_prep.arabic.g2p import SpokenText, TimedPhone, _word_index_of, timed_text
from data_prep.espeak import synthesize
from data_prep.phone_inventory import ipa_phone

log = logging.getLogger(__name__)
_SPACES = re.compile(r"\s+")


def normalize_plain(text: str) -> str:
    """NFC, whitespace collapsed: all the clean-up a non-Arabic transcript gets before espeak-ng."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def speak_phones_lang(text: str, voice: str = "en", rate: int = 160, pitch: int = 50,
                      pitch_range: int = 50) -> SpokenText:
    """Synthesise ``text`` with espeak-ng voice ``voice`` and return its timed phones and word spans."""
    speech = synthesize(text, voice=voice, rate=rate, pitch=pitch, pitch_range=pitch_range)
    word_of = _word_index_of(text)
    phones: list[TimedPhone] = []
    unknown = set()
    for ev in speech.phonemes:
        phone = ipa_phone(ev.symbol)
        if phone is None:
            unknown.add(ev.symbol)
            continue
        phones.append(TimedPhone(ev.start, ev.start, phone, word_of.get(ev.text_position, -1)))
    if unknown:
        log.warning("espeak-ng %s phones %s are in no phone set; skipped", voice, sorted(unknown))
    return timed_text(speech, phones)
