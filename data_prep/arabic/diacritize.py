"""Restore short vowels (tashkeel) on bare Arabic text, offline.

Everyday Arabic text omits short vowels, and espeak-ng drops the vowels it
cannot see, so the aligner diacritises every transcript first. Two offline
diacritisers from PyPI are supported, both loaded lazily:

* ``text2tashkeel`` (ONNX models bundled in the wheel, default model
  ``rawi-ensemble``) -- the default, chosen by measured diacritic error rate
  on our held-out sample (``benchmarks/bench_alignment.py``, README);
* ``mishkal`` (rule and lexicon based).

Marks the transcript already has win over the tool's (per letter: a fully
diacritised Quranic verse is read as written, a partly marked sentence gets
the tool's marks only where it has none). Whatever the tool returns is passed
through :func:`shadda_first`, because
espeak-ng needs the shadda before the short vowel on a letter. Text that is
already fully diacritised can skip this step (``backend="none"``).

``diacritic_error_rate`` is the usual DER: over Arabic letters, the share
whose set of marks differs from the reference (optionally ignoring each word's
last letter, where case endings live).
"""

from __future__ import annotations

import functools
import logging
import re

from data_prep.arabic.normalize import DIACRITICS, PAUSE_PUNCT, shadda_first, strip_diacritics

log = logging.getLogger(__name__)

BACKENDS = ("text2tashkeel", "mishkal", "none")
DEFAULT_BACKEND = "text2tashkeel"
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a\u0671]")
_SENTENCE_SPLIT = re.compile(r"(?<=[.?!;,])\s+")


@functools.lru_cache(maxsize=4)
def _tool(backend: str, model: str | None):
    if backend == "text2tashkeel":
        from text2tashkeel import DEFAULT_MODEL, Diacritizer

        return Diacritizer(model or DEFAULT_MODEL).diacritize
    if backend == "mishkal":
        import mishkal.tashkeel

        return mishkal.tashkeel.TashkeelClass().tashkeel
    raise ValueError(f"unknown diacritiser backend {backend!r}; expected one of {BACKENDS}")


def diacritize(text: str, backend: str = DEFAULT_BACKEND, model: str | None = None) -> str:
    """Diacritise normalised Arabic ``text`` and return it with shadda first.

    The text is processed one clause at a time (text2tashkeel's models are
    trained per sentence) and the base letters are checked to be unchanged, so
    word positions in the result match the input.
    """
    if backend == "none" or not text.strip():
        return shadda_first(text)
    tool = _tool(backend, model)
    parts = []
    for clause in _SENTENCE_SPLIT.split(text.strip()):
        # diacritise the words only and put the clause's final punctuation back
        # (mishkal rewrites a final "." as a control character)
        body = clause.rstrip(PAUSE_PUNCT + " ")
        marked = tool(body).strip() if body else ""
        marked = _keep_letters(marked, body, backend)
        parts.append(marked + clause[len(body):])
    return shadda_first(" ".join(parts))


def _keep_letters(marked: str, body: str, backend: str) -> str:
    """Take each marked word whose letters match the input word; else keep the input word.

    Diacritisers sometimes change letters (text2tashkeel writes نام as نأم);
    the transcript's letters win so that word positions stay aligned.
    """
    got, want = marked.split(), body.split()
    if len(got) != len(want):
        log.warning("diacritiser %s changed the words of %r; keeping the input", backend, body[:40])
        return body
    same_letters = [strip_diacritics(g) == strip_diacritics(w) for g, w in zip(got, want)]
    kept = [_input_marks_win(g, w) if same else w for g, w, same in zip(got, want, same_letters)]
    if not all(same_letters):
        log.debug("diacritiser %s changed letters in %r; those words keep the input", backend, body[:40])
    return " ".join(kept)


def _letters_with_marks(word: str) -> list[tuple[str, str]]:
    """(character, the diacritics after it) for each non-diacritic character of ``word``."""
    out: list[tuple[str, str]] = []
    for ch in word:
        if ch in DIACRITICS and out:
            out[-1] = (out[-1][0], out[-1][1] + ch)
        elif ch not in DIACRITICS:
            out.append((ch, ""))
    return out


def _input_marks_win(marked: str, given: str) -> str:
    """The diacritiser's word with the transcript's own marks wherever the transcript has some.

    A transcript that is already diacritised (the Quran, textbooks, partly marked Common Voice
    sentences) says what was read, case endings included; the model fills in only the letters the
    transcript left bare. Both words have the same letters.
    """
    if not any(ch in DIACRITICS for ch in given):
        return marked
    return "".join(ch + (own or model) for (ch, model), (_, own) in
                   zip(_letters_with_marks(marked), _letters_with_marks(given)))


def _marks_per_letter(text: str) -> list[tuple[str, frozenset[str], bool]]:
    """(letter, its set of marks, is last letter of its word) for each Arabic letter."""
    out: list[list] = []
    for i, ch in enumerate(text):
        if _ARABIC_LETTER.match(ch):
            out.append([ch, set(), False])
        elif ch in DIACRITICS and out:
            out[-1][1].add(ch)
        if out and (i + 1 == len(text) or text[i + 1].isspace() or text[i + 1] in ".,;?!:"):
            out[-1][2] = True
    return [(c, frozenset(m), last) for c, m, last in out]


def diacritic_error_rate(predicted: str, reference: str, ignore_last: bool = False) -> float:
    """Share of Arabic letters whose marks differ between ``predicted`` and ``reference``.

    Raises ValueError when the two texts do not have the same base letters.
    """
    pred, ref = _marks_per_letter(predicted), _marks_per_letter(reference)
    if [c for c, _, _ in pred] != [c for c, _, _ in ref]:
        raise ValueError(f"predicted and reference differ in base letters: {predicted[:40]!r} vs {reference[:40]!r}")
    pairs = [(p, r) for p, r in zip(pred, ref) if not (ignore_last and r[2])]
    if not pairs:
        return 0.0
    return sum(p[1] != r[1] for p, r in pairs) / len(pairs)
