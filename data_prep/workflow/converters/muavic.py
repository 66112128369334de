"""MuAViC Arabic (mTEDx ``ar`` talks) segments -> manifest entries.

The segment list ``data/<split>/txt/<split>.yaml`` (``- {duration, offset,
rel_path: wav/<talk id>.flac, speaker_id}``) with the transcript file
``<split>.ar`` holding one line per segment in the same order. The talk id is
the YouTube id MuAViC downloads from. A segment that cannot be used (a missing
or wrong field, a negative time) is skipped as ``malformed`` naming the file and
the segment; the others still convert, and keep their ids and transcripts (the
index within a talk counts skipped segments too, so ids do not move).

    lipsync-convert-manifest muavic test.yaml manifest.jsonl --text test.ar
"""

from __future__ import annotations

from pathlib import Path

import yaml

from data_prep.workflow.converters import YOUTUBE, Converter, register_converter
from data_prep.workflow.converters._report import Conversion, ConverterError, Skipped
from data_prep.workflow.manifest import ManifestError, parse_entry


def from_muavic(segments_yaml: str | Path, text_path: str | Path | None = None) -> Conversion:
    """mTEDx/MuAViC segment YAML (+ parallel transcript lines) -> entries and the segments skipped, with reasons."""
    segments_yaml = Path(segments_yaml)
    try:
        segments = yaml.safe_load(segments_yaml.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:  # a truncated or hand-edited list: where it broke, not a traceback
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConverterError(f"{segments_yaml}{where}: not a readable YAML segment list "
                             f"({getattr(exc, 'problem', None) or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConverterError(f"{segments_yaml}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not isinstance(segments, list):
        raise ConverterError(f"{segments_yaml}: expected a YAML list of segments")
    texts: list[str] = []
    if text_path is not None:
        texts = Path(text_path).read_text(encoding="utf-8").splitlines()
        if len(texts) != len(segments):
            raise ConverterError(f"{text_path}: {len(texts)} transcript lines for {len(segments)} segments "
                                 f"in {segments_yaml}; they must be parallel")
    entries, skipped, per_talk = [], [], {}
    for number, seg in enumerate(segments):
        clip = f"segment {number}"
        try:
            talk = Path(seg["rel_path"]).stem
        except (KeyError, TypeError) as exc:
            skipped.append(Skipped(str(segments_yaml), clip, "malformed",
                                   f"{segments_yaml}: {clip}: missing or invalid field 'rel_path' ({exc!r})"))
            continue
        index = per_talk.get(talk, 0)
        per_talk[talk] = index + 1
        try:
            offset, duration = float(seg["offset"]), float(seg["duration"])
            row = {
                "id": f"mtedx_{talk}_{index:04d}", "url": YOUTUBE.format(talk), "start": offset,
                "end": offset + duration, "speaker": str(seg.get("speaker_id") or talk),
                "text": texts[number] if texts else "", "lang": "ar", "source": "muavic", "youtube_id": talk,
                "clip": clip,
            }
            entries.append(parse_entry(row, segments_yaml, number + 1))
        except (KeyError, TypeError, ValueError, ManifestError) as exc:
            field = f"field {exc.args[0]!r} missing" if isinstance(exc, KeyError) else str(exc)
            skipped.append(Skipped(str(segments_yaml), clip, "malformed", f"{segments_yaml}: {clip}: {field}"))
    return Conversion(entries, skipped, read=len(segments))


def _add_arguments(parser) -> None:
    parser.add_argument("--text", help="transcript file parallel to the YAML (e.g. test.ar)")


register_converter(Converter("muavic", "MuAViC/mTEDx <split>.yaml segment list",
                             lambda source, args: from_muavic(source, args.text), _add_arguments))
