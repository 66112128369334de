"""The project's Arabic phone set (IPA) and the map from espeak-ng's symbols.

One inventory for everything downstream: TextGrid ``phones`` tiers, the
``phone_ids.npy`` shard key (an index into :data:`PHONE_SET`) and the viseme
table all use these symbols.

Conventions (Modern Standard Arabic):

* 28 consonants in IPA; the emphatics are written with ``ˤ`` (sˤ dˤ tˤ ðˤ),
  jim is ``dʒ`` (espeak's Arabic voice speaks it so).
* 3 short vowels ``a i u`` and 3 long vowels ``aː iː uː``. Pharyngealised
  vowel allophones after emphatics (espeak ``a.``) fold into the plain vowel.
* Length is one segment with ``ː``, for vowels and consonants alike: a
  geminate (shadda) is *one* interval ``bː``, not two ``b`` intervals, because
  the boundary between the two halves of a geminate is neither audible nor
  visible. espeak-ng reports a geminate as two identical phoneme events; the
  G2P merges them.
* The diphthongs /aj/ and /aw/ are ``a j`` and ``a w`` (espeak speaks them as
  the vowel pairs ``a i`` / ``a u``).

espeak-ng marks emphasis on ص ط with a dental diacritic (``s̪ t̪``) and on ظ
only through the following vowel (``ð`` + ``a.``); :func:`espeak_to_ipa`
resolves ظ from that context.
"""

from __future__ import annotations

CONSONANTS = [
    "b", "t", "θ", "dʒ", "ħ", "χ", "d", "ð", "r", "z", "s", "ʃ", "sˤ", "dˤ",
    "tˤ", "ðˤ", "ʕ", "ɣ", "f", "q", "k", "l", "m", "n", "h", "w", "j", "ʔ",
]
SHORT_VOWELS = ["a", "i", "u"]
LONG = "ː"
LONG_VOWELS = [v + LONG for v in SHORT_VOWELS]
GEMINATES = [c + LONG for c in CONSONANTS]
VOWELS = SHORT_VOWELS + LONG_VOWELS

# index = phone id in phone_ids.npy; never reorder, only append
PHONE_SET: list[str] = CONSONANTS + VOWELS + GEMINATES
PHONE_ID = {p: i for i, p in enumerate(PHONE_SET)}

# espeak-ng Arabic phoneme event symbols (IPA mode) -> our IPA
ESPEAK_TO_IPA: dict[str, str] = {c: c for c in CONSONANTS}
ESPEAK_TO_IPA.update({
    "s̪": "sˤ", "t̪": "tˤ", "dˤ": "dˤ", "ðˤ": "ðˤ", "tˤ": "tˤ", "sˤ": "sˤ",
    "a.": "a", "i.": "i", "u.": "u", "a": "a", "i": "i", "u": "u",
    "g": "dʒ", "ɡ": "dʒ", "x": "χ", "e": "i", "o": "u",
})
EMPHATIC_VOWELS = {"a.", "i.", "u.", "a.ː", "i.ː", "u.ː"}


def base_of(phone: str) -> str:
    """The phone without its length mark: ``bː`` -> ``b``, ``aː`` -> ``a``."""
    return phone[:-1] if phone.endswith(LONG) else phone


def is_vowel(phone: str) -> bool:
    return base_of(phone) in SHORT_VOWELS


def espeak_to_ipa(symbol: str, next_symbol: str | None = None) -> str:
    """Map one espeak-ng phoneme symbol to PHONE_SET (length handled by the caller).

    ``next_symbol`` lets ظ be recognised: espeak writes it ``ð`` followed by a
    pharyngealised vowel. Raises KeyError naming the symbol when it is unknown.
    """
    if symbol == "ð" and next_symbol in EMPHATIC_VOWELS:
        return "ðˤ"
    try:
        return ESPEAK_TO_IPA[symbol]
    except KeyError:
        raise KeyError(f"espeak-ng symbol {symbol!r} has no entry in ESPEAK_TO_IPA (data_prep/arabic/phoneset.py)") from None


def phone_id(phone: str) -> int:
    """Index of ``phone`` in PHONE_SET; raises KeyError naming the phone."""
    try:
        return PHONE_ID[phone]
    except KeyError:
        raise KeyError(f"phone {phone!r} is not in PHONE_SET (data_prep/arabic/phoneset.py)") from None
