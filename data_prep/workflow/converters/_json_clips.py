"""Read a JSON object keyed by clip id one clip at a time, so a broken clip costs that clip and not the file.

``json.load`` gives all or nothing: one truncated download or one hand-edited
clip with a missing comma, and 9,048 good clips are lost behind a traceback.
:func:`read_clips` walks the top-level object itself with
``json.JSONDecoder.raw_decode``: every clip that parses is returned; a clip
that does not is returned as a :class:`BrokenClip` naming the clip and the
line and column, and reading resumes at the next clip id (a key whose value
is an object and which is not one of the format's own field names). A file
that ends inside a clip (truncated) keeps every clip before it; a missing
comma between two clips loses nothing and is read past.

Encoding: the file is read as UTF-8, with or without a byte-order mark. A
file that is not UTF-8 stops with an error naming the file, the byte, the
clip it sits in and the fix, unless ``encoding`` names its encoding (then it
is decoded with a warning). It is not guessed: cp1256 (Windows Arabic) maps
almost every byte to some character, so a guess would turn any non-UTF-8 or
damaged file into plausible-looking Arabic that nothing downstream catches.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.workflow.converters._report import ConverterError

_KEY_BEFORE = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:\s*\{')


@dataclass(frozen=True)
class BrokenClip:
    clip: str  # the clip id, or "<line N>" when even the id could not be read
    message: str


def decode(path: Path, encoding: str | None = None, field_names: frozenset[str] = frozenset()) -> str:
    """The file's text: UTF-8 (a byte-order mark is accepted), or ``encoding`` when given.

    ``field_names`` (keys inside a record) let the error name the clip a bad byte sits in.
    """
    raw = path.read_bytes()
    if encoding:
        print(f"warning: decoding {path} as {encoding} (not UTF-8), as asked", file=sys.stderr)
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ConverterError(f"{path}: cannot decode as {encoding}: {exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        keys = [k for k in _KEY_BEFORE.findall(raw[:exc.start]) if k.decode("utf-8", "replace") not in field_names]
        clip = f", in clip {keys[-1].decode('utf-8', 'replace')!r}" if keys else ""
        line = raw[:exc.start].count(b"\n") + 1
        raise ConverterError(
            f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}, line {line}{clip}). "
            f"JSON is UTF-8; if this file was saved as Windows Arabic, convert it "
            f"(iconv -f cp1256 -t utf-8) or pass --encoding cp1256") from None


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    return f"line {line} column {index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def read_clips(text: str, path: Path, field_names: frozenset[str]) -> list[tuple[str, Any]]:
    """``{clip id: record, ...}`` -> [(clip id, record or BrokenClip)] in file order.

    ``field_names`` are the keys a record itself holds ("duration", "bbox"): they
    never start a clip, which is how reading finds the next clip after a broken one.
    """
    decoder, ws = json.JSONDecoder(), re.compile(r"\s*")
    clip_start = re.compile(r'[,{}]\s*("(?:[^"\\]|\\.)*")\s*:\s*\{')
    i = ws.match(text).end()
    if i == len(text):
        raise ConverterError(f"{path}: the file is empty")
    if text[i] != "{":
        raise ConverterError(f"{path}: expected a JSON object keyed by clip id, found {text[i]!r} at {_position(text, i)}")
    out: list[tuple[str, Any]] = []
    i += 1
    while True:
        i = ws.match(text, i).end()
        if i < len(text) and text[i] == "}":
            return out
        clip, start, value_end = None, i, None
        try:
            clip, i = decoder.raw_decode(text, i)
            if not isinstance(clip, str):
                raise json.JSONDecodeError("expected a clip id (a string)", text, start)
            i = ws.match(text, i).end()
            if not text.startswith(":", i):
                raise json.JSONDecodeError("expected ':' after the clip id", text, i)
            value, i = decoder.raw_decode(text, ws.match(text, i + 1).end())
            out.append((clip, value))
            value_end, i = i, ws.match(text, i).end()
            if text.startswith(",", i):
                i += 1
                continue
            if text.startswith("}", i):
                return out
            raise json.JSONDecodeError("expected ',' or '}' after the clip", text, i)
        except json.JSONDecodeError as exc:
            search_from = value_end - 1 if value_end is not None else max(exc.pos, start + 1)
            resume = next((m for m in clip_start.finditer(text, search_from)
                           if _key(m.group(1)) not in field_names), None)
            if value_end is not None and resume is not None:
                i = resume.start(1)  # the clip was read and the next one starts: no clip is lost (a missing comma)
                continue
            name = clip if isinstance(clip, str) else f"<{_position(text, start)}>"
            if value_end is not None:  # the clip was read; the file breaks off after it
                name = f"<after {name}>"
            truncated = resume is None and (exc.pos >= len(text.rstrip()) or not text.rstrip().endswith("}"))
            what = (f"invalid JSON ({exc.msg})" if not truncated else "truncated JSON: the file ends after this clip"
                    if value_end is not None else "truncated JSON: the file ends inside this clip")
            out.append((name, BrokenClip(name, f"{path}: clip {name!r}: {what} at {_position(text, exc.pos)}")))
            if resume is None:
                return out
            i = resume.start(1)


def _key(quoted: str) -> str | None:
    try:
        return json.loads(quoted)
    except json.JSONDecodeError:
        return None
