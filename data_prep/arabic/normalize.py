"""Normalise Arabic transcripts before diacritisation, G2P and alignment.

Manifest transcripts come from many keyboards and OCR tools: the same word can
arrive with tatweel (ـ) stretching, presentation-form glyphs, Persian/Urdu
letter look-alikes, Arabic-Indic or Persian digits, or Arabic punctuation.
``normalize_text`` folds all of these to one spelling so that the diacritiser
and espeak-ng see the text they were built for, while keeping what changes the
pronunciation: hamza seats (أ إ ؤ ئ ء) and madda (آ) are *kept*, because they
are spoken as a glottal stop; ``fold_hamza=True`` folds them for search keys.

Diacritics (harakat) are kept by default; :func:`strip_diacritics` removes
them and :func:`shadda_first` puts shadda before the short vowel on the same
letter. Unicode's canonical order (NFC/NFKC) puts the vowel first
(fatha U+064E has combining class 30, shadda U+0651 has 33), and espeak-ng's
Arabic rules only see the gemination when the shadda comes first.
"""

from __future__ import annotations

import re
import unicodedata

TATWEEL = "\u0640"
SHADDA = "\u0651"
SUKUN = "\u0652"
FATHATAN, DAMMATAN, KASRATAN = "\u064b", "\u064c", "\u064d"
FATHA, DAMMA, KASRA = "\u064e", "\u064f", "\u0650"
SHORT_VOWELS = FATHA + DAMMA + KASRA + FATHATAN + DAMMATAN + KASRATAN
# harakat + shadda + sukun + superscript alef + Quranic marks
DIACRITICS = SHORT_VOWELS + SHADDA + SUKUN + "\u0670" + "\u0653\u0654\u0655" + "".join(
    chr(c) for c in range(0x06D6, 0x06ED) if unicodedata.category(chr(c)) == "Mn")

# Quranic annotation (Uthmani script): pause marks (small high ligatures), the end-of-verse sign, small high
# letters marking silence or recitation rules, honorifics. None is spoken; espeak-ng would read a
# free-standing pause mark as a word. The Uthmani sukun (small high dotless head of khah) is a sukun
QURANIC_SUKUN = "\u06e1"
_UNSPOKEN = re.compile("[\u0610-\u061a\u06d6-\u06e0\u06e2-\u06ed]")
_LETTER_FOLDS = {
    "\u0671": "\u0627",  # alef wasla -> alef
    "\u06cc": "\u064a",  # Persian yeh -> Arabic yeh
    "\u06d2": "\u064a",  # yeh barree -> yeh
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u06af": "\u0643",  # gaf -> kaf (no /g/ letter in MSA spelling)
    "\u06c1": "\u0647",  # heh goal -> heh
    "\u06d5": "\u0647",  # ae -> heh
    "\u0629\u0640": "\u0629",
}
_HAMZA_FOLDS = {"\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0624": "\u0648",
                "\u0626": "\u064a", "\u0649": "\u064a"}
_DIGITS = {ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")}
_DIGITS.update({ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")})
_PUNCT = {"،": ",", "؛": ";", "؟": "?", "٪": "%", "٫": ".", "٬": ",", "۔": ".",
          "«": '"', "»": '"', "“": '"', "”": '"'}
# punctuation espeak-ng turns into a pause; everything else non-letter becomes a space
PAUSE_PUNCT = ",;?!.:"
_DROP = re.compile(r"[^\w\s" + re.escape(PAUSE_PUNCT) + r"%" + "".join(sorted(set(DIACRITICS))) + r"]")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([" + re.escape(PAUSE_PUNCT) + r"])")
_VOWEL_THEN_SHADDA = re.compile("([" + SHORT_VOWELS + "])" + SHADDA)


def shadda_first(text: str) -> str:
    """Put every shadda before the short vowel it shares a letter with."""
    return _VOWEL_THEN_SHADDA.sub(SHADDA + r"\1", text)


def strip_diacritics(text: str) -> str:
    """Remove harakat, tanween, shadda, sukun and Quranic marks (keeps hamza letters)."""
    return "".join(c for c in text if c not in DIACRITICS)


def normalize_text(text: str, keep_diacritics: bool = True, fold_hamza: bool = False) -> str:
    """Fold a transcript to the spelling the rest of the pipeline expects.

    Steps: NFKC (presentation forms and ligatures such as ﷲ to plain letters,
    decomposed hamza/madda to precomposed), tatweel and Quranic annotation
    (pause marks, end-of-verse signs) removed, the Uthmani sukun made a sukun, Persian/Urdu
    letters folded to Arabic, Arabic-Indic and Persian digits to ASCII,
    Arabic punctuation to its ASCII twin, other symbols to spaces, whitespace
    collapsed, shadda put first. ``fold_hamza`` also maps أ إ آ→ا, ؤ→و, ئ ى→ي.
    """
    out = unicodedata.normalize("NFKC", text)
    out = _UNSPOKEN.sub("", out.replace(TATWEEL, "").replace(QURANIC_SUKUN, SUKUN))
    for src, dst in _LETTER_FOLDS.items():
        out = out.replace(src, dst)
    if fold_hamza:
        for src, dst in _HAMZA_FOLDS.items():
            out = out.replace(src, dst)
    out = out.translate(_DIGITS)
    for src, dst in _PUNCT.items():
        out = out.replace(src, dst)
    out = _DROP.sub(" ", out).replace("_", " ")
    if not keep_diacritics:
        out = strip_diacritics(out)
    out = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", out)).strip()
    return shadda_first(out)


def words_of(text: str) -> list[str]:
    """Whitespace words with pause punctuation removed (empty tokens dropped)."""
    tokens = (w.strip(PAUSE_PUNCT + '"%') for w in text.split())
    return [w for w in tokens if w]
