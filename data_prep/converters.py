"""Converters from public Arabic audio-visual annotations to our manifest.

* MultiTalk (``MultiTalk_Dataset/annotations/arabic.json``): an object keyed
  by clip id, each value ``{"youtube_id", "duration": {"start_sec",
  "end_sec"}, "bbox": {"top", "bottom", "left", "right"} (0..1),
  "language", "transcript"}``. Speakers are not annotated; the YouTube video
  stands in for the speaker, so splits never put one video on both sides.
* MuAViC Arabic (mTEDx ``ar`` talks): the segment list
  ``data/<split>/txt/<split>.yaml`` (``- {duration, offset, rel_path:
  wav/<talk id>.flac, speaker_id}``) with the transcript file
  ``<split>.ar`` holding one line per segment in the same order. The talk id
  is the YouTube id MuAViC downloads from.

    lipsync-convert-manifest multitalk arabic.json manifest.jsonl
    lipsync-convert-manifest muavic test.yaml manifest.jsonl --text test.ar

Clips of the same video share one download (the download stage caches by URL).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from data_prep.manifest import ManifestEntry, parse_entry, write_manifest

YOUTUBE = "https://www.youtube.com/watch?v={}"


def from_multitalk(path: str | Path) -> list[ManifestEntry]:
    """MultiTalk's per-language annotation JSON -> manifest entries (sorted by id)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by clip id, got {type(data).__name__}")
    entries = []
    for clip_id in sorted(data):
        item = data[clip_id]
        where = f"{path}: clip {clip_id!r}"
        try:
            youtube_id = item["youtube_id"]
            start, end = float(item["duration"]["start_sec"]), float(item["duration"]["end_sec"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: missing or invalid field {exc}") from None
        row = {
            "id": f"mt_{clip_id}", "url": YOUTUBE.format(youtube_id), "start": start, "end": end,
            "speaker": f"yt_{youtube_id}", "text": item.get("transcript", ""), "lang": "ar",
            "source": "multitalk", "youtube_id": youtube_id,
        }
        if isinstance(item.get("bbox"), dict):
            row["bbox"] = {k: float(item["bbox"][k]) for k in ("top", "bottom", "left", "right")}
        entries.append(parse_entry(row, path, 0))
    return entries


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lipsync-convert-manifest", description=__doc__.split("\n\n")[0])
    parser.add_argument("format", choices=["multitalk", "muavic"])
    parser.add_argument("source", help="arabic.json (MultiTalk) or <split>.yaml (MuAViC/mTEDx)")
    parser.add_argument("output", help="manifest.jsonl to write")
    parser.add_argument("--text", help="MuAViC: transcript file parallel to the YAML (e.g. test.ar)")
    args = parser.parse_args(argv)
    entries = from_multitalk(args.source) if args.format == "multitalk" else from_muavic(args.source, args.text)
    count = write_manifest(entries, args.output)
    print(f"wrote {count} entries to {args.output}")
