"""The source manifest: JSON Lines, one source video per line.

    {"id": "yt_abc123_0001", "url": "https://www.youtube.com/watch?v=abc123",
     "start": 12.5, "end": 19.0, "speaker": "abc123", "text": "...", "lang": "ar"}

``id`` and ``url`` are required; ``url`` may be any URL yt-dlp understands, a
``file://`` URL or a plain local path. A relative local path is read relative
to the manifest's own folder (not the working directory), so a manifest and
the videos beside it can be moved or copied to a cluster together.

``box`` (optional) is the speaker's face box in the source frame, as fractions
of the frame: ``{"top", "bottom", "left", "right"}``, each in [0, 1] with
top < bottom and left < right (MultiTalk ships one per clip; the face stage
can follow that face when several are in frame).

Unknown fields are kept in ``extra`` (a converter may record the YouTube id,
``marks`` saying why a kept line is suspect, ...). A malformed line is a
:class:`ManifestError` naming the file, the line number and the field, raised
before any work starts.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

_FIELDS = {"id", "url", "start", "end", "speaker", "text", "lang", "box"}
BOX_KEYS = ("top", "bottom", "left", "right")
_ID_PATTERN = re.compile(r"^[^/\\\s]+$")


class ManifestError(ValueError):
    """A manifest line that cannot be used, with its location."""

    def __init__(self, path: str | Path, line: int, field_name: str | None, message: str):
        where = f"{path}:{line}" + (f" field {field_name!r}" if field_name else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.field, self.message = str(path), line, field_name, message


@dataclass
class ManifestEntry:
    id: str
    url: str
    start: float | None = None
    end: float | None = None
    speaker: str | None = None
    text: str = ""
    lang: str = "ar"
    box: dict[str, float] | None = None  # face box, fractions of the frame (BOX_KEYS)
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


def parse_box(value: Any, path: str | Path = "<manifest>", line: int = 0) -> dict[str, float]:
    """Validate a face box ``{"top", "bottom", "left", "right"}`` (fractions of the frame)."""
    if not isinstance(value, dict):
        raise ManifestError(path, line, "box", f"expected an object with {', '.join(BOX_KEYS)}, got {value!r}")
    missing = [k for k in BOX_KEYS if k not in value]
    if missing:
        raise ManifestError(path, line, "box", f"missing key(s) {', '.join(missing)}")
    box = {}
    for key in BOX_KEYS:
        v = value[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise ManifestError(path, line, "box", f"{key} must be a fraction of the frame in [0, 1], got {v!r}")
        box[key] = float(v)
    if box["top"] >= box["bottom"] or box["left"] >= box["right"]:
        raise ManifestError(path, line, "box", f"needs top < bottom and left < right, got {box}")
    return box


def resolve_local(url: str, folder: str | Path) -> str:
    """A relative local path -> the absolute path of that file under ``folder``; absolute paths and URLs pass unchanged."""
    if urlparse(url).scheme or url.startswith("~") or Path(url).is_absolute():
        return url
    return os.path.abspath(Path(folder) / url)


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
    box = parse_box(row["box"], path, line) if row.get("box") is not None else None
    return ManifestEntry(
        id=row["id"], url=row["url"].strip(), start=start, end=end,
        speaker=str(speaker) if speaker else None, text=row.get("text") or "",
        lang=row.get("lang") or "ar", box=box, extra={k: v for k, v in row.items() if k not in _FIELDS},
    )


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """Read and validate a whole manifest; ids must be unique; relative local paths resolve against its folder."""
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
            entry.url = resolve_local(entry.url, path.parent)
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
