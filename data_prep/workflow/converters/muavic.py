"""MuAViC Arabic (mTEDx ``ar`` talks) segments -> manifest entries.

The segment list ``data/<split>/txt/<split>.yaml`` (``- {duration, offset,
rel_path: wav/<talk id>.flac, speaker_id}``) with the transcript file
``<split>.ar`` holding one line per segment in the same order. The talk id is
the YouTube id MuAViC downloads from.

    lipsync-convert-manifest muavic test.yaml manifest.jsonl --text test.ar
"""

from __future__ import annotations

from pathlib import Path

import yaml

from data_prep.workflow.converters import YOUTUBE, Converter, register_converter
from data_prep.workflow.manifest import ManifestEntry, parse_entry


def from_muavic(segments_yaml: str | Path, text_path: str | Path | None = None) -> list[ManifestEntry]:
    """mTEDx/MuAViC segment YAML (+ parallel transcript lines) -> manifest entries."""
    segments_yaml = Path(segments_yaml)
    segments = yaml.safe_load(segments_yaml.read_text(encoding="utf-8")) or []
    if not isinstance(segments, list):
        raise ValueError(f"{segments_yaml}: expected a YAML list of segments")
    texts: list[str] = []
    if text_path is not None:
        texts = Path(text_path).read_text(encoding="utf-8").splitlines()
        if len(texts) != len(segments):
            raise ValueError(f"{text_path}: {len(texts)} transcript lines for {len(segments)} segments "
                             f"in {segments_yaml}; they must be parallel")
    entries, per_talk = [], {}
    for number, seg in enumerate(segments):
        try:
            talk = Path(seg["rel_path"]).stem
            offset, duration = float(seg["offset"]), float(seg["duration"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{segments_yaml}: segment {number} missing or invalid field {exc}") from None
        index = per_talk.get(talk, 0)
        per_talk[talk] = index + 1
        row = {
            "id": f"mtedx_{talk}_{index:04d}", "url": YOUTUBE.format(talk), "start": offset,
            "end": offset + duration, "speaker": str(seg.get("speaker_id") or talk),
            "text": texts[number] if texts else "", "lang": "ar", "source": "muavic", "youtube_id": talk,
        }
        entries.append(parse_entry(row, segments_yaml, number + 1))
    return entries


def _add_arguments(parser) -> None:
    parser.add_argument("--text", help="transcript file parallel to the YAML (e.g. test.ar)")


register_converter(Converter("muavic", "MuAViC/mTEDx <split>.yaml segment list",
                             lambda source, args: from_muavic(source, args.text), _add_arguments))
