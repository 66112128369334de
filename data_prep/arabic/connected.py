"""Diacritised Arabic respelt the way it is spoken in running speech, for espeak-ng.

espeak-ng's Arabic voice reads every word as if it began an utterance, and
reads some marks literally. What real speakers (and the recordings we align)
do instead, and what :func:`spoken_spelling` writes so that espeak-ng says it:

* **hamzat al-wasl of the article.** The alif of ال is silent unless the word
  starts an utterance: قَالَ الدَّرْسُ is "qaːla ddarsu", not espeak-ng's
  "qaːla ʔaddarsu"; هُوَ الْوَلَدُ is "huwa lwaladu", not "... alwaladu".
  Before a sun letter the lam is assimilated too (the sun letter doubles).
  After a proclitic (بِ وَ فَ كَ) espeak-ng reads the alif as a long vowel
  (بِالتَّمْرِ "biaːtamri"); it is dropped there too ("bittamri").
* **dagger alif** (ٰ, superscript alef, in Quranic and careful spelling: ذَٰلِكَ,
  الرَّحْمَٰنِ) is a long aː; espeak-ng ignores it, so it becomes a plain alif
  (on alif maqsura, ىٰ, it is already long and is dropped).

Only the article is elided, not every word spelt with a bare initial alif:
everyday writing drops the hamza of أنا or إذا, and those keep their glottal
stop. An article is recognised by its lam: unmarked or with sukun and at least
two letters after it (so الى "ila" is not one), or carrying the shadda of
الَّذِي; a lam with its own short vowel (الِدَة) is not the article. The word
count and order never change, so word indices still match the transcript.
"""

from __future__ import annotations

import re

from data_prep.arabic.normalize import DIACRITICS, FATHA, KASRA, PAUSE_PUNCT, SHADDA, SHORT_VOWELS, SUKUN

DAGGER_ALIF = "\u0670"
ALEF_MAKSURA = "\u0649"
# the letters the article's lam assimilates to
SUN_LETTERS = "تثدذرزسشصضطظلن"
_MARKS = "[" + re.escape("".join(sorted(set(DIACRITICS)))) + "]*"
_LETTER = "[\u0621-\u064a]"
_ARTICLE = re.compile(
    rf"^(?P<lead>[^\u0621-\u064a]*)(?P<pre>(?:[وفبك][{FATHA}{KASRA}])?)ا{_MARKS}ل(?P<lam>{_MARKS})"
    rf"(?P<x>{_LETTER})(?P<xm>{_MARKS})(?P<rest>.*)$", re.S)
_DAGGER_ON_MAKSURA = re.compile(rf"({ALEF_MAKSURA}{_MARKS}){DAGGER_ALIF}")


def _letters(text: str) -> int:
    return len(re.findall(_LETTER, text))


def _doubled(letter: str, marks: str) -> str:
    """A geminate spelt letter + sukun + letter: espeak-ng drops the vowel of a word-initial shadda
    (رَّجُل is read "r|rdʒul", half in the word before) but reads رْرَجُل as "rradʒul"."""
    return letter + SUKUN + letter + marks.replace(SHADDA, "")


def _connect(word: str, starts_utterance: bool) -> str:
    """One whitespace token with its article's alif (and a sun letter's lam) elided where speech elides them."""
    m = _ARTICLE.match(word)
    if m is None or (starts_utterance and not m["pre"]):
        return word
    lam = m["lam"]
    if SHADDA in lam:  # الَّذِي: the article's lam is the doubled one
        return m["lead"] + m["pre"] + _doubled("ل", lam) + m["x"] + m["xm"] + m["rest"]
    if any(v in lam for v in SHORT_VOWELS) or 1 + _letters(m["rest"]) < 2:
        return word  # a lam with its own vowel, or too short to be article + noun (الى)
    if m["pre"] and not lam and SHADDA not in m["xm"]:
        return word  # after a proclitic only when the diacritiser marked the article (a sukun or a shadda)
    if m["x"] in SUN_LETTERS:
        return m["lead"] + m["pre"] + _doubled(m["x"], m["xm"]) + m["rest"]
    return m["lead"] + m["pre"] + "ل" + SUKUN + m["x"] + m["xm"] + m["rest"]


def spoken_spelling(text: str) -> str:
    """``text`` (diacritised, shadda first) with the article elided inside utterances and dagger alifs spelt out."""
    text = _DAGGER_ON_MAKSURA.sub(r"\1", text).replace(DAGGER_ALIF, "ا")
    out, starts_utterance = [], True
    for token in re.split(r"(\s+)", text):
        if not token or token.isspace():
            out.append(token)
            continue
        out.append(_connect(token, starts_utterance))
        starts_utterance = token.rstrip('"').endswith(tuple(PAUSE_PUNCT + "،؛؟"))
    return "".join(out)
