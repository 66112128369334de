"""Download stage: fetch a source video with yt-dlp's Python API, once per URL.

Every URL goes through yt-dlp, local ones too (plain paths become ``file://``
URLs, which yt-dlp reads when ``enable_file_urls`` is set), so local tests
exercise the same code path as YouTube downloads. Downloads are cached by a
hash of the URL: many manifest entries (MultiTalk clips) cut the same video,
and a re-run after a kill must not fetch it again. A per-URL file lock keeps
two workers from downloading the same video at once.

Failures are retried with backoff, then raised as :class:`Dropped` with reason
``unreachable_url`` (the source does not exist or refuses us) or
``download_failed`` (anything else), and recorded by the pipeline.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from data_prep.workflow.drops import Dropped

log = logging.getLogger(__name__)

DEFAULT_FORMAT = "bestvideo[height<=1920][width<=1920]+bestaudio/best[height<=1920][width<=1920]/best"  # 1080p either orientation (portrait too)
_UNREACHABLE_HINTS = ("404", "not found", "no such file", "unavailable", "private video", "does not exist",
                      "unsupported url", "unsupported url scheme", "name or service not known", "removed", "is not a valid url")


def normalise_url(url: str) -> str:
    """Local paths become absolute file:// URLs; other URLs pass unchanged."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and url[1:3] == ":\\"):
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else url).expanduser().resolve()
        return path.as_uri()
    return url


def cache_name(url: str) -> str:
    return hashlib.sha1(normalise_url(url).encode("utf-8")).hexdigest()[:20]


def _cached(cache_dir: Path, stem: str) -> Path | None:
    for path in sorted(cache_dir.glob(stem + ".*")):
        if path.suffix not in (".part", ".lock", ".ytdl", ".tmp") and ".part" not in path.name and path.stat().st_size:
            return path
    return None


def download(url: str, cache_dir: str | Path, retries: int = 3, backoff: float = 2.0,
             video_format: str = DEFAULT_FORMAT, socket_timeout: float = 30.0) -> Path:
    """Return a local file holding the video at ``url``, downloading it if not cached."""
    import yt_dlp

    url = normalise_url(url)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_name(url)
    if url.startswith("file://") and not Path(unquote(urlparse(url).path)).is_file():
        raise Dropped("download", "unreachable_url", f"no such file: {unquote(urlparse(url).path)}")
    with open(cache_dir / f"{stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        hit = _cached(cache_dir, stem)
        if hit is not None:
            return hit
        options = {
            "outtmpl": str(cache_dir / f"{stem}.%(ext)s"),
            "format": video_format,
            "merge_output_format": "mp4",
            "enable_file_urls": True,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "noplaylist": True,
            "retries": retries,
            "socket_timeout": socket_timeout,
            "logger": log,
        }
        last_error = ""
        for attempt in range(1, retries + 1):
            try:
                with yt_dlp.YoutubeDL(options) as ydl:
                    ydl.download([url])
            except yt_dlp.utils.YoutubeDLError as exc:  # DownloadError and network-layer errors
                last_error = str(exc)
                if any(hint in last_error.lower() for hint in _UNREACHABLE_HINTS):
                    raise Dropped("download", "unreachable_url", last_error[:300]) from None
                log.warning("download of %s failed (attempt %d/%d): %s", url, attempt, retries, last_error[:200])
                if attempt < retries:
                    time.sleep(backoff * 2 ** (attempt - 1))
                continue
            hit = _cached(cache_dir, stem)
            if hit is not None:
                return hit
            last_error = "yt-dlp finished but wrote no file"
        raise Dropped("download", "download_failed", last_error[:300])
