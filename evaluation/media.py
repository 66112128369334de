"""Decode the inputs of the LSE protocol in memory: BGR frames and 16 kHz int16 audio.

The published scorer (syncnet_python's ``SyncNetInstance.evaluate``, as used by
Wav2Lip's ``calculate_scores_*.py``) runs ``ffmpeg -threads 1 -f image2
%06d.jpg`` and reads the JPEGs back with ``cv2.imread``, then writes the audio
with ``ffmpeg -async 1 -ac 1 -vn -acodec pcm_s16le -ar 16000`` and reads it with
``scipy.io.wavfile``. The JPEG round trip changes pixel values, so it is part of
the protocol: :func:`read_frames` asks ffmpeg for the *same* Motion-JPEG stream
on a pipe (same encoder, same settings, no files) and decodes it with
``cv2.imdecode``, giving byte-identical frames to the reference; ``jpeg=False``
skips the round trip (raw ``bgr24``) when exactness to published numbers is not
needed. Any container ffmpeg reads is accepted.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
SAMPLE_RATE = 16_000
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"


class MediaError(RuntimeError):
    """A video that cannot be scored; ``reason`` is the short code written to results.json."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def list_videos(folder: str | Path) -> list[Path]:
    """Every file with a video suffix directly inside ``folder``, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"videos folder {root} does not exist or is not a directory")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def _run(cmd: list[str], what: str, path: Path) -> bytes:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise MediaError("unreadable", f"{path.name}: ffmpeg failed reading {what}: {tail[0]}")
    return proc.stdout


def probe(path: str | Path) -> dict:
    """-> {"fps": float|None, "has_audio": bool, "width": int, "height": int} from ffprobe."""
    path = Path(path)
    out = _run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)], "stream info", path)
    streams = json.loads(out or b"{}").get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        raise MediaError("no_video", f"{path.name}: no video stream")
    num, _, den = video.get("avg_frame_rate", "0/1").partition("/")
    fps = float(num) / float(den) if den and float(den) else None
    return {"fps": fps, "has_audio": any(s.get("codec_type") == "audio" for s in streams),
            "width": int(video["width"]), "height": int(video["height"])}


def split_mjpeg(stream: bytes) -> list[bytes]:
    """A concatenated Motion-JPEG byte stream -> one bytes object per JPEG (SOI..EOI)."""
    parts = stream.split(_EOI + _SOI)
    if len(parts) > 1:
        parts = [parts[0] + _EOI] + [_SOI + p + _EOI for p in parts[1:-1]] + [_SOI + parts[-1]]
    return [p for p in parts if p]


def read_frames(path: str | Path, size: int | None = 224, jpeg: bool = True) -> np.ndarray:
    """All frames of ``path`` -> (T, size, size, 3) uint8 BGR (native size when ``size`` is None).

    ``jpeg=True`` reproduces the reference's ffmpeg -> JPEG -> cv2.imread round trip
    in memory; the resize is ``cv2.resize(img, (224, 224))`` (bilinear) as Wav2Lip's scorer does.
    """
    path = Path(path)
    if jpeg:
        raw = _run(["ffmpeg", "-v", "error", "-i", str(path), "-threads", "1", "-f", "image2pipe",
                    "-c:v", "mjpeg", "-"], "video frames", path)
        frames = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in split_mjpeg(raw)]
        if any(f is None for f in frames):
            raise MediaError("unreadable", f"{path.name}: a frame did not decode as JPEG")
    else:
        info = probe(path)
        w, h = info["width"], info["height"]
        raw = _run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
                   "video frames", path)
        frames = list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))
    if not frames:
        raise MediaError("no_frames", f"{path.name}: ffmpeg decoded no frames")
    if size is not None:
        frames = [f if f.shape[:2] == (size, size) else cv2.resize(f, (size, size)) for f in frames]
    return np.ascontiguousarray(np.stack(frames))  # (T, H, W, 3) uint8 BGR


def read_audio(path: str | Path) -> np.ndarray:
    """The first audio stream -> (N,) int16 mono 16 kHz, exactly the reference's extracted WAV samples."""
    path = Path(path)
    raw = _run(["ffmpeg", "-v", "error", "-i", str(path), "-async", "1", "-ac", "1", "-vn", "-acodec",
                "pcm_s16le", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"], "audio", path)
    if not raw:
        raise MediaError("no_audio", f"{path.name}: no audio samples decoded")
    return np.frombuffer(raw, np.int16).copy()


def require_audio(path: str | Path) -> None:
    """Raise MediaError('no_audio') when ``path`` has no audio stream (ffmpeg would fail less clearly)."""
    if not probe(path)["has_audio"]:
        raise MediaError("no_audio", f"{Path(path).name}: the file has no audio stream")
