"""``--videos DIR``: point manifest entries at videos already downloaded, instead of their YouTube URLs.

MultiTalk's own download script (``MultiTalk_dataset/download_and_process.py``) keeps each full video as
``raw_video/<language>/<youtube_id>.mp4``; yt-dlp may leave ``.mkv`` or ``.webm``. An entry whose
``youtube_id`` has a file there gets its path, written relative to the manifest's folder (the manifest
reader resolves it against that folder, so the manifest and the videos can move to a cluster together);
an entry without one is skipped as ``video_missing``, so the manifest never sends a compute node to the web.
Point DIR at the full downloads, not at MultiTalk's 512x512 cut clips (``multitalk_dataset/<language>/``):
those are cropped and rescaled, and the face stage needs the source pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_prep.workflow.converters._report import ConverterError, Skipped
from data_prep.workflow.manifest import ManifestEntry

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov")  # preferred first


def use_local_videos(entries: list[ManifestEntry], videos: str | Path, manifest_dir: str | Path,
                     source: str) -> tuple[list[ManifestEntry], list[Skipped]]:
    """Entries with a local video (url = its path relative to ``manifest_dir``), and the others skipped."""
    videos = Path(videos)
    if not videos.is_dir():
        raise ConverterError(f"--videos {videos}: no such folder")
    found: dict[str, Path] = {}
    for path in sorted(videos.iterdir(), key=lambda p: (VIDEO_SUFFIXES.index(p.suffix.lower())
                                                        if p.suffix.lower() in VIDEO_SUFFIXES else 99, p.name)):
        if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
            found.setdefault(path.stem, path)
    cut_clips = [e for e in entries if e.extra.get("clip") in found and e.extra.get("youtube_id") not in found]
    if cut_clips and len(cut_clips) == len(entries):
        raise ConverterError(f"--videos {videos} holds clips named by clip id ({cut_clips[0].extra['clip']}.mp4): "
                             f"MultiTalk's cropped 512x512 cuts; give the folder of full videos "
                             f"named by YouTube id (raw_video/<language>/)")
    kept, skipped = [], []
    base = os.path.abspath(manifest_dir)
    for entry in entries:
        video_id = entry.extra.get("youtube_id")
        path = found.get(video_id) if video_id else None
        if path is None:
            what = f"no {video_id}{'/'.join(VIDEO_SUFFIXES)} in {videos}" if video_id else "the line has no youtube_id"
            skipped.append(Skipped(source, entry.extra.get("clip", entry.id), "video_missing", what))
            continue
        entry.url = os.path.relpath(os.path.abspath(path), base)
        kept.append(entry)
    return kept, skipped
