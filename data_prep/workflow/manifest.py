"""The source manifest: JSON Lines, one source video per line.

    {"id": "yt_abc123_0001", "url": "https://www.youtube.com/watch?v=abc123",
     "start": 12.5, "end": 19.0, "speaker": "abc123", "text": "...", "lang": "ar"}

``id`` and ``url`` are required; ``url`` may be any URL yt-dlp understands, a
``file://`` URL or a plain local path. Unknown fields are kept in ``extra`` (a
converter may record a face box, a channel, ...). A malformed line is a
:class:`ManifestError` naming the file, the line number and the field, raised
before any work starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

_FIELDS = {"id", "url", "start", "end", "speaker", "text", "lang"}
_ID_PATTERN = re.compile(r"^[^/\\\s]+$")


class ManifestError(ValueError):
    """A manifest line that cannot be used, with its location."""

    def __init__(self, path: str | Path, line: int, field_name: str | None, message: str):
        where = f"{path}:{line}" + (f" field {field_name!r}" if field_name else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.field = str(path), line, field_name


@dataclass
class ManifestEntry:
    id: str
    url: str
    start: float | None = None
    end: float | None = None
    speaker: str | None = None
    text: str = ""
    lang: str = "ar"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def speaker_id(self) -> str:
        """The speaker used for splits; a source without one is its own speaker."""
        return self.speaker or self.id

    def to_json(self) -> str:
        row = {k: v for k, v in asdict(self).items() if k != "extra" and v not in (None, "")}
        row["lang"] = self.lang
        row.update(self.extra)
        return json.dumps(row, ensure_ascii=False)


def _number(value: Any, path, line, name) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ManifestError(path, line, name, f"expected a number of seconds, got {value!r}")
    if value < 0:
        raise ManifestError(path, line, name, f"must be >= 0, got {value}")
    return float(value)


def parse_entry(row: Any, path: str | Path = "<manifest>", line: int = 0) -> ManifestEntry:
    """Validate one decoded JSON object into a ManifestEntry."""
    if not isinstance(row, dict):
        raise ManifestError(path, line, None, f"expected a JSON object, got {type(row).__name__}")
    for name in ("id", "url"):
        if name not in row:
            raise ManifestError(path, line, name, "required field is missing")
        if not isinstance(row[name], str) or not row[name].strip():
            raise ManifestError(path, line, name, f"expected a non-empty string, got {row[name]!r}")
    if not _ID_PATTERN.match(row["id"]):
        raise ManifestError(path, line, "id", f"must not contain slashes or spaces, got {row['id']!r}")
    start = _number(row.get("start"), path, line, "start")
    end = _number(row.get("end"), path, line, "end")
    if start is not None and end is not None and end <= start:
        raise ManifestError(path, line, "end", f"end ({end}) must be after start ({start})")
    for name in ("speaker", "text", "lang"):
        if row.get(name) is not None and not isinstance(row[name], str):
            raise ManifestError(path, line, name, f"expected a string, got {row[name]!r}")
    speaker = row.get("speaker")
    return ManifestEntry(
        id=row["id"], url=row["url"].strip(), start=start, end=end,
        speaker=str(speaker) if speaker else None, text=row.get("text") or "",
        lang=row.get("lang") or "ar", extra={k: v for k, v in row.items() if k not in _FIELDS},
    )


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """Read and validate a whole manifest; ids must be unique."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    entries, seen = [], {}
    with path.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ManifestError(path, number, None, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
            entry = parse_entry(row, path, number)
            if entry.id in seen:
                raise ManifestError(path, number, "id", f"duplicate id {entry.id!r} (first on line {seen[entry.id]})")
            seen[entry.id] = number
            entries.append(entry)
    return entries


def write_manifest(entries: Iterable[ManifestEntry], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for entry in entries:
            fh.write(entry.to_json() + "\n")
            count += 1
    return count


def parse_part(part: str | None) -> tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> (i, n); None -> (0, 1). SLURM arrays pass their task id as i."""
    if part in (None, "", "0/1"):
        return 0, 1
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(part))
    if not match:
        raise ValueError(f"part must look like I/N (e.g. 3/8), got {part!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"part {part!r}: need 0 <= I < N")
    return index, count


def select_part(entries: list[ManifestEntry], part: str | None) -> list[ManifestEntry]:
    """The slice of the manifest that part i of n processes (round-robin, stable)."""
    index, count = parse_part(part)
    return entries[index::count]
