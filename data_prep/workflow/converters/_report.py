"""What a conversion kept, dropped and marked, and why: the converters' record of every clip they did not pass on.

A public annotation file is converted clip by clip; one bad clip never stops
the file. Each clip that is not written to the manifest becomes a
:class:`Skipped` naming the annotation file, the clip and a reason from
:data:`REASONS`; ``lipsync-convert-manifest`` writes them as JSON lines beside
the manifest (``manifest.dropped.jsonl``) and prints counts per reason. A kept
clip whose transcript was changed or looks wrong carries ``marks`` (keys of
:data:`MARKS`) in its manifest line.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data_prep.workflow.manifest import ManifestEntry

REASONS: dict[str, str] = {
    "malformed": "the clip's record is broken: invalid or truncated JSON, a missing field or a wrong value",
    "duplicate_clip": "the clip id appeared earlier in the same file (the first one is kept)",
    "empty_transcript": "the transcript is empty, so there is nothing to align",
    "outro": "the whole transcript is a YouTube outro or credit line (subscribe, thanks for watching, a "
             "translator credit): what Whisper-style captioning writes over end music or silence",
    "music": "the transcript only says that music plays",
    "no_arabic": "the transcript has no Arabic letter (an English-only line, bare numbers)",
    "video_missing": "--videos was given and that folder holds no file for the clip's video",
}
MARKS: dict[str, str] = {
    "credit_removed": "a translator credit at the end of a real transcript was cut off the text",
    "text_too_fast": "more letters per second than anyone speaks: the transcript probably runs past the clip's times",
}


class ConverterError(ValueError):
    """The annotation file as a whole cannot be read (missing, wrong encoding, not the expected shape)."""


@dataclass(frozen=True)
class Skipped:
    file: str
    clip: str
    reason: str
    detail: str = ""

    def __post_init__(self):
        if self.reason not in REASONS:
            raise ValueError(f"unknown converter drop reason {self.reason!r}; expected one of {sorted(REASONS)}")


@dataclass
class Conversion:
    """The result of one converter: entries to write, clips skipped with reasons, and the number of clips read."""

    entries: list[ManifestEntry]
    skipped: list[Skipped] = field(default_factory=list)
    read: int | None = None  # clips in the source file (None: len(entries) + len(skipped))

    @property
    def clips_read(self) -> int:
        return self.read if self.read is not None else len(self.entries) + len(self.skipped)


def dropped_path(output: str | Path) -> Path:
    """``manifest.jsonl`` -> ``manifest.dropped.jsonl`` beside it."""
    output = Path(output)
    return output.with_name(output.name.removesuffix(".jsonl") + ".dropped.jsonl")


def write_dropped(skipped: list[Skipped], path: str | Path) -> None:
    """One JSON line per skipped clip: ``{"file", "clip", "stage": "convert", "reason", "detail"}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for skip in skipped:
            fh.write(json.dumps({**asdict(skip), "stage": "convert"}, ensure_ascii=False) + "\n")


def summary(source: str, conversion: Conversion, dropped_file: str | Path) -> str:
    """A short table: clips read, kept, dropped and marked, with counts per reason."""
    drops = Counter(s.reason for s in conversion.skipped)
    marks = Counter(m for e in conversion.entries for m in e.extra.get("marks", []))
    lines = [f"{source}: {conversion.clips_read} clips read, {len(conversion.entries)} kept, "
             f"{len(conversion.skipped)} dropped" + (f" (listed in {dropped_file})" if conversion.skipped else "")
             + f", {sum(1 for e in conversion.entries if e.extra.get('marks'))} kept with marks"]
    lines += [f"  dropped  {reason:<17} {count:>6}  {REASONS[reason]}" for reason, count in drops.most_common()]
    lines += [f"  marked   {mark:<17} {count:>6}  {MARKS[mark]}" for mark, count in marks.most_common()]
    return "\n".join(lines)
