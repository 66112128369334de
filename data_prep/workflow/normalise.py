"""Stage 3: bring any downloaded source video to the pipeline's media format.

Sources arrive at any frame rate, size and audio format. Every later stage
assumes one format, so this stage re-encodes once:

* video: 25 fps constant frame rate, H.264, a short GOP (one keyframe a second)
  so later stages can seek to a clip range quickly, at the source's *own*
  resolution up to ``max_short_side`` (1080 by default: a phone's portrait
  1080x1920 stays native). Faces are warped from these frames, and web faces
  are small (~290 px wide in portrait talking-head video): the old 720 px
  height cap shrank such a face to ~110 px, and the 256 px alignment then
  upscaled it 2.3x and kept less than half of the mouth detail (issue 17).
  ``max_height`` (0 = off) remains as an explicit cap for users who want it;
* audio: 16 kHz mono int16, trimmed / padded to exactly ``n_frames * 640``
  samples so that frame ``t`` owns samples ``640 t .. 640 (t + 1)``.

The manifest's ``start`` / ``end`` cut happens here, with accurate (decoded)
seeking. ``ffprobe`` runs first so unreadable inputs get a precise drop reason
(:mod:`data_prep.workflow.drops`) instead of an ffmpeg traceback. Outputs are written
under a temporary name and renamed, so an interrupted run never leaves a
half-written video that a resumed run would trust.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.workflow.drops import Dropped
from data_prep.schema import FPS, SAMPLE_RATE

log = logging.getLogger(__name__)
STAGE = "normalise"


@dataclass
class NormalisedMedia:
    """The normalised source: a 25 fps video file plus its frame-aligned audio in memory."""

    video: Path  # H.264 mp4, constant frame rate, no audio stream
    audio: np.ndarray  # (n_frames * samples_per_frame,) int16 mono
    n_frames: int
    width: int
    height: int
    duration: float  # seconds = n_frames / fps


def probe(src: Path) -> dict:
    """ffprobe ``src`` -> its JSON (``streams`` and ``format``); unreadable files are Dropped."""
    cmd = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(src)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise Dropped(STAGE, "corrupt_file", f"{src}: ffprobe failed: {_tail(result.stderr)}")
    info = json.loads(result.stdout or "{}")
    streams = info.get("streams", [])
    # attached pictures (cover art) are video streams that are not a video
    if not any(s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
               for s in streams):
        raise Dropped(STAGE, "no_video_stream", f"{src}: streams {[s.get('codec_type') for s in streams]}")
    if not any(s.get("codec_type") == "audio" for s in streams):
        raise Dropped(STAGE, "no_audio_stream", f"{src}: streams {[s.get('codec_type') for s in streams]}")
    return info


def frames_and_size(video: Path) -> tuple[int, int, int]:
    """(frame count, width, height) of the first video stream in one ffprobe call.

    Frames are counted from the packets (exact for our CFR H.264, no decoding).
    """
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
           "-show_entries", "stream=nb_read_packets,width,height", "-of", "json", str(video)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    streams = json.loads(result.stdout or "{}").get("streams", []) if result.returncode == 0 else []
    count = str(streams[0].get("nb_read_packets", "")) if streams else ""
    if not count.isdigit():
        raise Dropped(STAGE, "corrupt_file", f"{video}: could not count frames: {_tail(result.stderr)}")
    return int(count), int(streams[0]["width"]), int(streams[0]["height"])


def count_frames(video: Path) -> int:
    """Number of video frames, counted from the packets."""
    return frames_and_size(video)[0]


def normalise(src: Path, out_dir: Path, start: float | None = None, end: float | None = None,
              fps: int = FPS, sample_rate: int = SAMPLE_RATE, max_height: int = 0,
              min_seconds: float = 1.0, silence_dbfs: float = -50.0, max_short_side: int = 1080) -> NormalisedMedia:
    """Re-encode ``src`` (cut to ``[start, end)`` seconds) to ``out_dir/<stem>_norm.mp4`` plus audio.

    Raises :class:`Dropped` with ``corrupt_file``, ``no_video_stream``,
    ``no_audio_stream``, ``too_short`` or ``silence``.
    """
    src, out_dir = Path(src), Path(out_dir)
    if sample_rate % fps:
        raise ValueError(f"sample_rate {sample_rate} must be a multiple of fps {fps}")
    samples_per_frame = sample_rate // fps
    info = probe(src)
    source_seconds = _video_seconds(info)
    begin = max(start or 0.0, 0.0)
    stop = min(end, source_seconds) if end is not None else source_seconds
    if np.isfinite(stop) and stop - begin < min_seconds:
        raise Dropped(STAGE, "too_short", f"{src}: {stop - begin:.2f} s after cut [{start}, {end}), "
                                          f"need {min_seconds} s")

    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{src.stem}_norm.mp4"
    partial = out_dir / f".{src.stem}_norm.partial-{os.getpid()}.mp4"
    audio = _encode(src, partial, begin, end, fps, sample_rate, max_height, max_short_side)
    try:
        n_frames, width, height = frames_and_size(partial)
        duration = n_frames / fps
        expected = stop - begin
        if np.isfinite(expected) and expected - duration > max(1.0, 0.05 * expected):
            # a download cut short but with its index up front decodes "fine", just shorter
            raise Dropped(STAGE, "corrupt_file", f"{src}: decoded {duration:.2f} s of the {expected:.2f} s "
                                                 f"its header announces (truncated?)")
        if duration < min_seconds:
            raise Dropped(STAGE, "too_short", f"{src}: {n_frames} frames = {duration:.2f} s, need {min_seconds} s")
        if n_frames * samples_per_frame - len(audio) > sample_rate:
            log.warning("%s: audio ends %.1f s before the video; padded with silence", src,
                        (n_frames * samples_per_frame - len(audio)) / sample_rate)
        audio = fit_length(audio, n_frames * samples_per_frame)
        level = rms_dbfs(audio)
        if level < silence_dbfs:
            raise Dropped(STAGE, "silence", f"{src}: audio RMS {level:.1f} dBFS < {silence_dbfs} dBFS")
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    log.info("normalised %s -> %s: %d frames %dx%d", src, final, n_frames, width, height)
    return NormalisedMedia(final, audio, n_frames, width, height, duration)


def _encode(src: Path, video_out: Path, begin: float, end: float | None, fps: int, sample_rate: int,
            max_height: int, max_short_side: int = 0) -> np.ndarray:
    """One ffmpeg pass: video to ``video_out``, audio as raw s16le on stdout -> (n,) int16."""
    cut = ["-ss", f"{begin:.3f}"] if begin > 0 else []  # input seeking; accurate when transcoding
    if end is not None:
        cut += ["-t", f"{end - begin:.3f}"]
    vf = f"fps={fps},{scale_filter(max_height, max_short_side)}"
    # first_pts=0 pads/trims the audio start so it lines up with video frame 0
    af = f"aresample={sample_rate}:async=1:first_pts=0"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *cut, "-i", str(src),
           "-map", "0:v:0", "-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
           "-g", str(fps), "-bf", "0", "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart", str(video_out),
           "-map", "0:a:0", "-af", af, "-ac", "1", "-ar", str(sample_rate), "-f", "s16le", "-c:a", "pcm_s16le",
           "pipe:1"]
    log.debug("ffmpeg %s", " ".join(cmd[1:]))
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0 or not video_out.exists():
        video_out.unlink(missing_ok=True)
        raise Dropped(STAGE, "corrupt_file", f"{src}: ffmpeg failed: {_tail(result.stderr.decode(errors='replace'))}")
    return np.frombuffer(result.stdout[: len(result.stdout) // 2 * 2], np.int16).copy()


def scale_filter(max_height: int = 0, max_short_side: int = 0) -> str:
    """ffmpeg ``scale`` filter: never upscale, shrink only past ``max_height`` / ``max_short_side`` (0 = no cap).

    Works on the frame after ffmpeg's autorotation (phone videos store portrait
    as rotated landscape), and keeps both sides even (yuv420p needs it).
    """
    factors = ["1"]
    if max_height > 0:
        factors.append(f"{max_height}/ih")
    if max_short_side > 0:
        factors.append(f"{max_short_side}/min(iw\\,ih)")
    factor = factors[0]
    for f in factors[1:]:
        factor = f"min({factor}\\,{f})"
    return f"scale=w='trunc(iw*{factor}/2)*2':h='trunc(ih*{factor}/2)*2'"


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim or zero-pad (at the end) ``audio`` to exactly ``n_samples``."""
    if len(audio) >= n_samples:
        return audio[:n_samples].copy()
    return np.concatenate([audio, np.zeros(n_samples - len(audio), audio.dtype)])


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level of int16 samples in dB relative to full scale (-inf for digital silence)."""
    if len(audio) == 0:
        return float("-inf")
    rms = np.sqrt(np.mean(np.square(audio.astype(np.float64)))) / 32768.0
    return float(20 * np.log10(rms)) if rms > 0 else float("-inf")


def _video_seconds(info: dict) -> float:
    """Duration of the first video stream per ffprobe, else of the container; NaN if unknown."""
    for stream in info.get("streams", []):
        if stream.get("codec_type") == "video" and stream.get("duration") not in (None, "N/A"):
            return float(stream["duration"])
    duration = info.get("format", {}).get("duration")
    return float(duration) if duration not in (None, "N/A") else float("nan")


def _tail(text: str, n: int = 300) -> str:
    return text.strip()[-n:] or "(no message)"
