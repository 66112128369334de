"""MultiTalk's per-language annotations (``MultiTalk_dataset/annotations/arabic.json``) -> manifest entries.

Upstream (github.com/postech-ami/MultiTalk) keeps them in ``MultiTalk_dataset/annotations/<language>.json``
(lower-case "dataset"; an early commit spelt it ``MultiTalk_Dataset``): an object keyed by clip id, each value
``{"youtube_id", "duration": {"start_sec", "end_sec"}, "bbox": {"top", "bottom", "left", "right"} (0..1),
"language", "transcript"}``. Speakers are not annotated; the YouTube video stands in for the speaker, so splits
never put one video on both sides. Clips of the same video share one download (the download stage caches by
URL). The clip's box becomes the manifest's ``box`` (the face to follow when several are in frame).

A clip that cannot be used (broken JSON, a missing field or key, a wrong value, a repeated id) is skipped as
``malformed`` / ``duplicate_clip`` with the file, the clip and the field; the rest of the file converts.

    lipsync-convert-manifest multitalk MultiTalk/MultiTalk_dataset/annotations/arabic.json manifest.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_prep.workflow.converters import YOUTUBE, Converter, register_converter
from data_prep.workflow.converters._json_clips import BrokenClip, decode, read_clips
from data_prep.workflow.converters._report import Conversion, Skipped
from data_prep.workflow.manifest import ManifestEntry, ManifestError, parse_box, parse_entry

RECORD_FIELDS = ("youtube_id", "duration", "bbox", "transcript")
# keys inside a clip's record: never the start of the next clip when reading resumes after a broken one
FIELD_NAMES = frozenset(RECORD_FIELDS + ("language", "start_sec", "end_sec", "top", "bottom", "left", "right"))


class _BadClip(ValueError):
    pass


def _entry(path: Path, clip_id: str, item: Any) -> ManifestEntry:
    """One clip's record -> a manifest entry; :class:`_BadClip` names the field that is wrong."""
    if not isinstance(item, dict):
        raise _BadClip(f"expected an object, got {type(item).__name__}")
    missing = [k for k in RECORD_FIELDS if k not in item]
    if missing:
        raise _BadClip(f"missing field(s) {', '.join(missing)}")
    duration = item["duration"]
    if not isinstance(duration, dict) or not {"start_sec", "end_sec"} <= set(duration):
        raise _BadClip(f"field 'duration' needs start_sec and end_sec, got {duration!r}")
    if not isinstance(item["transcript"], str):
        raise _BadClip(f"field 'transcript' must be a string, got {item['transcript']!r}")
    youtube_id = item["youtube_id"]
    if not isinstance(youtube_id, str) or not youtube_id.strip() or any(c in youtube_id for c in " /\\"):
        raise _BadClip(f"field 'youtube_id': expected a YouTube id, got {youtube_id!r}")
    try:
        box = parse_box(item["bbox"], path, 0)
        row = {"id": f"mt_{clip_id}", "url": YOUTUBE.format(youtube_id), "start": duration["start_sec"],
               "end": duration["end_sec"], "speaker": f"yt_{youtube_id}", "text": item["transcript"],
               "lang": "ar", "box": box, "source": "multitalk", "clip": clip_id, "youtube_id": youtube_id}
        return parse_entry(row, path, 0)
    except ManifestError as exc:
        name = {"box": "bbox", "start": "duration.start_sec", "end": "duration.end_sec"}.get(exc.field, exc.field)
        raise _BadClip(f"field {name!r}: {exc.message}") from None


def from_multitalk(path: str | Path, encoding: str | None = None) -> Conversion:
    """MultiTalk's per-language annotation JSON -> entries (sorted by id) and the clips skipped, with reasons."""
    path = Path(path)
    clips = read_clips(decode(path, encoding, FIELD_NAMES), path, FIELD_NAMES)
    entries, skipped, seen = [], [], set()
    for clip_id, item in clips:
        if isinstance(item, BrokenClip):
            skipped.append(Skipped(str(path), item.clip, "malformed", item.message))
        elif clip_id in seen:
            skipped.append(Skipped(str(path), clip_id, "duplicate_clip", f"{path}: clip {clip_id!r} appears again"))
        else:
            seen.add(clip_id)
            try:
                entries.append(_entry(path, clip_id, item))
            except _BadClip as exc:
                skipped.append(Skipped(str(path), clip_id, "malformed", f"{path}: clip {clip_id!r}: {exc}"))
    return Conversion(sorted(entries, key=lambda e: e.id), skipped, read=len(clips))


def _add_arguments(parser) -> None:
    parser.add_argument("--encoding", help="the file's encoding when it is not UTF-8 (e.g. cp1256); never guessed")


register_converter(Converter("multitalk", "MultiTalk MultiTalk_dataset/annotations/<language>.json",
                             lambda source, args: from_multitalk(source, args.encoding), _add_arguments))
