"""MultiTalk's per-language annotations (``MultiTalk_Dataset/annotations/arabic.json``) -> manifest entries.

An object keyed by clip id, each value ``{"youtube_id", "duration": {"start_sec",
"end_sec"}, "bbox": {"top", "bottom", "left", "right"} (0..1), "language",
"transcript"}``. Speakers are not annotated; the YouTube video stands in for
the speaker, so splits never put one video on both sides. Clips of the same
video share one download (the download stage caches by URL).

    lipsync-convert-manifest multitalk arabic.json manifest.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path

from data_prep.workflow.converters import YOUTUBE, Converter, register_converter
from data_prep.workflow.manifest import ManifestEntry, parse_entry


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


register_converter(Converter("multitalk", "MultiTalk annotations/arabic.json", lambda source, args: from_multitalk(source)))
