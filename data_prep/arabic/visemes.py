"""Arabic phoneme-to-viseme table: which phones look alike on the lips.

Sources. Chelali, Sadeddine & Djeradi, "Visual Speech Analysis, Application
to Arabic Phonemes", IJCA special issue SEDEX 2 (2012) 29-34, group the 28
Arabic consonants into 11 visual classes from lip images of ten speakers;
Damien, Wakim & Egéa, "Phoneme-viseme mapping for Modern, Classical Arabic
language", ICACTEA 2009, derive a similar many-to-one map from lip geometry.
Our table keeps their count (11 consonant classes) and their principle
(grouping by place of articulation as seen on the lips, teeth and tongue tip);
the membership below is our reading of that principle, not a copy of either
paper's table, and the decisions they leave open are ours:

* emphatics (sˤ dˤ tˤ ðˤ) join their plain counterparts: pharyngealisation
  is made in the throat and changes the lips little (slight spreading), so a
  separate class would mostly add label noise;
* pharyngeals (ħ ʕ) get their own class rather than joining the glottals:
  Ouni & Ouni, "Arabic Pharyngeals in Visual Speech", AVSP 2007, found them
  partly recognisable by lip-readers (jaw lowering, lip retraction);
* vowels add three classes (open, spread, rounded); length and gemination
  never change the class.

Viseme ids are indices into :data:`VISEME_CLASSES`; -1 is silence.
"""

from __future__ import annotations

from data_prep.arabic.phoneset import PHONE_SET, base_of

VISEME_MEMBERS: dict[str, list[str]] = {
    "bilabial": ["b", "m"],
    "labiodental": ["f"],
    "interdental": ["θ", "ð", "ðˤ"],
    "alveolar_stop": ["t", "d", "tˤ", "dˤ", "n"],
    "alveolar_fricative": ["s", "z", "sˤ"],
    "postalveolar_palatal": ["ʃ", "dʒ", "j"],
    "liquid": ["l", "r"],
    "velar_uvular": ["k", "q", "χ", "ɣ"],
    "pharyngeal": ["ħ", "ʕ"],
    "glottal": ["ʔ", "h"],
    "labiovelar": ["w"],
    "vowel_open": ["a"],
    "vowel_spread": ["i"],
    "vowel_rounded": ["u"],
}
VISEME_CLASSES: list[str] = list(VISEME_MEMBERS)
_CLASS_OF = {phone: k for k, members in enumerate(VISEME_MEMBERS.values()) for phone in members}
SILENCE = -1


def viseme_of(phone: str) -> int:
    """Viseme class id of a PHONE_SET symbol (length marks ignored); -1 for silence ("")."""
    if phone == "":
        return SILENCE
    try:
        return _CLASS_OF[base_of(phone)]
    except KeyError:
        raise KeyError(f"phone {phone!r} has no viseme class in data_prep/arabic/visemes.py") from None


def viseme_table() -> list[int]:
    """Viseme id for every phone id, in PHONE_SET order (a lookup array)."""
    return [viseme_of(p) for p in PHONE_SET]
