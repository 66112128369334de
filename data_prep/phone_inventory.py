"""One phone id space and one viseme space for every language the pipeline aligns.

Arabic keeps its inventory and ids (``data_prep.arabic.phoneset.PHONE_SET``,
ids 0..93). Other languages are spoken by espeak-ng, whose IPA phones are
appended here as :data:`OTHER_PHONES` (append only: a shard's ``phone_ids.npy``
stays valid as the list grows). Every phone maps into the same 14 viseme
classes as Arabic (``data_prep.arabic.visemes``), by where it is made as seen
on the lips, so a shard set mixing Arabic and English clips has one label
space and trains without special cases. Diphthongs take the class of their
first element (the mouth shape at the phone's start, which is what the
frame-centre labels mostly see).

:func:`ipa_phone` folds an espeak-ng phoneme event of any language onto this
inventory: stress marks go, and a symbol we do not list falls back to its
bare letter (``ɔ̃`` -> ``ɔ``) before it is given up as unknown.
"""

from __future__ import annotations

import unicodedata

from data_prep.arabic.phoneset import LONG, PHONE_SET, base_of
from data_prep.arabic.visemes import VISEME_CLASSES, viseme_of as arabic_viseme_of

_V = {name: k for k, name in enumerate(VISEME_CLASSES)}
# phone -> viseme class name; only phones that are not already in the Arabic PHONE_SET
_OTHER: dict[str, str] = {
    # consonants (English first, then common European ones)
    "p": "bilabial", "ɡ": "velar_uvular", "g": "velar_uvular", "v": "labiodental", "ŋ": "velar_uvular",
    "ɹ": "liquid", "tʃ": "postalveolar_palatal", "ʒ": "postalveolar_palatal", "ɫ": "liquid", "ɾ": "liquid",
    "ʁ": "velar_uvular", "ç": "postalveolar_palatal", "ɲ": "postalveolar_palatal", "ʎ": "liquid",
    "x": "velar_uvular", "ts": "alveolar_stop", "dz": "alveolar_stop", "ʀ": "velar_uvular", "ʋ": "labiodental",
    "β": "bilabial", "ɣ̞": "velar_uvular", "ʝ": "postalveolar_palatal", "pf": "labiodental", "ɬ": "liquid",
    "ʔ̞": "glottal", "ɦ": "glottal", "ʍ": "labiovelar", "ɥ": "labiovelar",
    # vowels: open, spread (front unrounded), rounded
    "ɪ": "vowel_spread", "e": "vowel_spread", "ɛ": "vowel_spread", "eɪ": "vowel_spread", "ɪə": "vowel_spread",
    "eə": "vowel_spread", "ɨ": "vowel_spread", "ɯ": "vowel_spread", "ɘ": "vowel_spread",
    "æ": "vowel_open", "ʌ": "vowel_open", "ɐ": "vowel_open", "ə": "vowel_open", "ɑ": "vowel_open",
    "ɜ": "vowel_open", "aɪ": "vowel_open", "aʊ": "vowel_open", "ɚ": "vowel_open", "ɝ": "vowel_open",
    "ɒ": "vowel_rounded", "ɔ": "vowel_rounded", "o": "vowel_rounded", "ʊ": "vowel_rounded",
    "əʊ": "vowel_open", "oʊ": "vowel_rounded", "ɔɪ": "vowel_rounded", "ʊə": "vowel_rounded",
    "y": "vowel_rounded", "ø": "vowel_rounded", "œ": "vowel_rounded", "ɵ": "vowel_rounded", "ʏ": "vowel_rounded",
}
_LONGABLE = ["i", "u", "a", "e", "o", "ɑ", "ɔ", "ɜ", "y", "ø", "ɛ"]
OTHER_PHONES: list[str] = [p for p in _OTHER if p not in PHONE_SET] + [
    v + LONG for v in _LONGABLE if v + LONG not in PHONE_SET]
ALL_PHONES: list[str] = PHONE_SET + OTHER_PHONES  # index = phone id in phone_ids.npy; append only
PHONE_ID = {p: i for i, p in enumerate(ALL_PHONES)}
_STRESS = "ˈˌ'\u02d1"  # primary / secondary stress, half-long


def phone_set_name(lang: str) -> str:
    """The name a clip records for the phones it carries: ``ar-msa`` or ``espeak-<voice>``."""
    return "ar-msa" if is_arabic(lang) else f"espeak-{lang}"


def is_arabic(lang: str) -> bool:
    return lang.split("-")[0].split("_")[0].lower() in ("ar", "ara", "arb")


def ipa_phone(symbol: str) -> str | None:
    """An espeak-ng IPA phoneme symbol of any language -> a phone in ALL_PHONES, or None if unknown."""
    s = "".join(c for c in symbol if c not in _STRESS).strip()
    if s in PHONE_ID:
        return s
    bare = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c) or c == "\u0303")
    bare = bare.replace("\u0303", "")  # nasalisation does not change the lips' class
    for cand in (bare, bare.replace(LONG, "") + (LONG if LONG in bare else ""), bare.replace(LONG, ""), bare[:1]):
        if cand in PHONE_ID:
            return cand
    return None


def phone_id(phone: str) -> int:
    """Index of ``phone`` in ALL_PHONES (Arabic ids unchanged); raises KeyError naming the phone."""
    try:
        return PHONE_ID[phone]
    except KeyError:
        raise KeyError(f"phone {phone!r} is in no phone set (data_prep/phone_inventory.py)") from None


def viseme_of(phone: str) -> int:
    """Viseme class id of any phone in ALL_PHONES; -1 for silence ("")."""
    if phone == "" or phone in PHONE_SET or base_of(phone) in PHONE_SET:
        return arabic_viseme_of(phone)
    name = _OTHER.get(phone) or _OTHER.get(base_of(phone))
    if name is None:
        raise KeyError(f"phone {phone!r} has no viseme class in data_prep/phone_inventory.py")
    return _V[name]
