"""Transcript checks run on every converted manifest line: drop lines that are not speech, cut credits, mark the implausible.

Public Arabic annotations were captioned automatically, and the captioner
writes text where nobody speaks: over end music it writes the YouTube outro it
saw most in training ("اشتركوا في القناة", "شكرا للمشاهدة", the translator
credit "ترجمة نانسي قنقر"), over songs "موسيقى". Aligned as speech, these
teach the model mouths that say nothing of the kind. The rules are data, in
``outro_patterns.txt`` beside this module (its header gives the format), and
match the whole transcript after :func:`match_key` folds away the spelling
differences (diacritics, tatweel, hamza seats and alef variants, ta marbuta,
punctuation), so a rule written once matches every spelling of the line.

Two rules are code, because they are not phrases: a transcript with no Arabic
letter is dropped (``no_arabic``: English-only lines, bare numbers; the
aligner speaks Arabic), and one that needs more letters per second than
anyone speaks is kept but marked ``text_too_fast`` (on MultiTalk the 99th
percentile is 24 letters/s; the marked lines reach 93, i.e. the transcript
runs past the clip's end time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from data_prep.arabic.normalize import DIACRITICS, PAUSE_PUNCT, TATWEEL, normalize_text
from data_prep.workflow.converters._report import Skipped
from data_prep.workflow.manifest import ManifestEntry

PATTERNS_FILE = Path(__file__).with_name("outro_patterns.txt")
KINDS = ("outro", "music", "suffix")
DEFAULT_MAX_LETTERS_PER_SECOND = 30.0
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ئ": "ي", "ؤ": "و", "ة": "ه",
                       TATWEEL: None, **{c: None for c in DIACRITICS}})
_STRIP = str.maketrans({c: " " for c in PAUSE_PUNCT + '"%'})
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_MUSIC_SYMBOLS = set("♪♫♬♩")
_MAX_SUFFIX_WORDS = 6


def fold_chars(text: str) -> str:
    """Letter-level folding only (safe on a regular expression): diacritics, tatweel, alef/hamza/ya/ta marbuta."""
    return text.translate(_FOLD).lower()


def match_key(text: str) -> str:
    """The spelling-free form rules match against: folded letters, no punctuation or symbols, single spaces."""
    out = fold_chars(normalize_text(text, keep_diacritics=False)).translate(_STRIP)
    return " ".join(out.split())


@dataclass(frozen=True)
class Rule:
    kind: str  # one of KINDS
    pattern: re.Pattern
    where: str  # file:line, for the drop detail


@lru_cache(maxsize=4)
def load_rules(path: str | Path = PATTERNS_FILE) -> tuple[Rule, ...]:
    """Parse the pattern file; a bad kind or expression is an error naming file and line."""
    path = Path(path)
    rules = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kind, _, expression = line.strip().partition(" ")
        if kind not in KINDS or not expression.strip():
            raise ValueError(f"{path}:{number}: expected 'KIND REGEX' with KIND one of {KINDS}, got {line!r}")
        try:
            pattern = re.compile(fold_chars(expression.strip()))
        except re.error as exc:
            raise ValueError(f"{path}:{number}: bad regular expression ({exc})") from None
        rules.append(Rule(kind, pattern, f"{path.name}:{number}"))
    return tuple(rules)


@dataclass
class Verdict:
    drop: str | None  # a converter drop reason, or None to keep
    text: str  # the transcript to keep (a trailing credit cut off)
    marks: list[str] = field(default_factory=list)
    detail: str = ""


def check_transcript(text: str, seconds: float | None, rules: tuple[Rule, ...],
                     max_letters_per_second: float = DEFAULT_MAX_LETTERS_PER_SECOND) -> Verdict:
    """Decide one transcript: drop it (with the reason and the rule), or keep it (possibly cut, possibly marked)."""
    raw = " ".join(text.split())
    if not raw:
        return Verdict("empty_transcript", raw, detail="the transcript is empty")
    key = match_key(raw)
    if not key:
        if _MUSIC_SYMBOLS & set(raw):
            return Verdict("music", raw, detail=f"{raw!r} holds only music symbols")
        return Verdict("empty_transcript", raw, detail=f"{raw!r} holds no word, only punctuation or symbols")
    for rule in rules:
        if rule.kind != "suffix" and rule.pattern.fullmatch(key):
            return Verdict(rule.kind, raw, detail=f"{raw!r} matches the {rule.kind} rule at {rule.where}")
    kept, marks = raw, []
    words = raw.split()
    for rule in (r for r in rules if r.kind == "suffix"):
        cut = next((n for n in range(min(_MAX_SUFFIX_WORDS, len(words) - 1), 0, -1)  # longest first
                    if rule.pattern.fullmatch(match_key(" ".join(words[-n:])))), None)
        if cut:
            kept, marks = " ".join(words[:-cut]), ["credit_removed"]
            break
    if not _ARABIC_LETTER.search(match_key(kept)):
        return Verdict("no_arabic", kept, detail=f"{kept!r} has no Arabic letter")
    letters = len(_ARABIC_LETTER.findall(match_key(kept)))
    if seconds and max_letters_per_second and letters / seconds > max_letters_per_second:
        marks.append("text_too_fast")
    return Verdict(None, kept, marks, detail=f"{letters / seconds:.1f} letters/s" if seconds else "")


def apply_checks(entries: list[ManifestEntry], source: str, rules: tuple[Rule, ...] | None = None,
                 max_letters_per_second: float = DEFAULT_MAX_LETTERS_PER_SECOND
                 ) -> tuple[list[ManifestEntry], list[Skipped]]:
    """Check every entry's transcript -> (kept entries, text cut / marks recorded; skipped clips with reasons)."""
    rules = load_rules() if rules is None else rules
    kept, skipped = [], []
    for entry in entries:
        seconds = entry.end - entry.start if entry.start is not None and entry.end is not None else None
        verdict = check_transcript(entry.text, seconds, rules, max_letters_per_second)
        if verdict.drop:
            skipped.append(Skipped(source, entry.extra.get("clip", entry.id), verdict.drop, verdict.detail))
            continue
        if verdict.marks:
            entry.extra["marks"] = sorted(set(entry.extra.get("marks", [])) | set(verdict.marks))
            if "credit_removed" in verdict.marks:
                entry.extra["text_original"] = entry.text
        entry.text = verdict.text
        kept.append(entry)
    return kept, skipped
