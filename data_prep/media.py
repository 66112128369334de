"""Media in and out for inference: audio files, Arabic text spoken by espeak-ng, video frames, mp4 muxing.

Every external tool is called with an argument list (never a shell), so paths
with spaces or quotes are safe. Audio comes out as 16 kHz mono int16, the
training format; video frames as RGB uint8 resampled to 25 fps by nearest
frame, the rate the model was trained at.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from data_prep.schema import FPS, SAMPLE_RATE

log = logging.getLogger(__name__)


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise FileNotFoundError("ffmpeg is not on PATH; install it (Debian: apt-get install ffmpeg)")
    return exe


def load_audio(path: str | Path) -> np.ndarray:
    """Any audio (or video with sound) file -> (N,) int16 16 kHz mono, decoded by ffmpeg."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio={str(path)!r}: no such file")
    cmd = [_ffmpeg(), "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
           "-f", "s16le", "-"]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0 or not result.stdout:
        raise ValueError(f"audio={str(path)!r}: ffmpeg could not decode it: {result.stderr.decode()[-300:]}")
    return np.frombuffer(result.stdout, np.int16).copy()


def speak_arabic(text: str, voice: str = "ar", diacritise: bool = True) -> np.ndarray:
    """Arabic text -> (N,) int16 16 kHz speech by espeak-ng (diacritised first: espeak needs the vowels).

    The espeak backend of :mod:`data_prep.tts` (``make_tts("espeak", lang="ar")``), kept for its callers.
    """
    from data_prep.tts import EspeakTTS

    return EspeakTTS("ar", voice=voice, diacritise=diacritise).speak(text)


def read_frames(path: str | Path, fps: int = FPS) -> np.ndarray:
    """A video (or image) file -> (T, H, W, 3) uint8 RGB at ``fps`` (nearest-frame resampling)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video/image {str(path)!r}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp",
                                                                                ".webp") else None
    if image is not None:
        return image[None, :, :, ::-1].copy()
    cap = cv2.VideoCapture(str(path))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or fps
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame[:, :, ::-1])
    cap.release()
    if not frames:
        raise ValueError(f"video={str(path)!r}: no frames could be decoded")
    frames = np.stack(frames)
    if abs(src_fps - fps) > 0.01:
        n_out = max(1, int(round(len(frames) * fps / src_fps)))
        idx = np.minimum((np.arange(n_out) * src_fps / fps).round().astype(int), len(frames) - 1)
        log.info("%s: %.2f fps resampled to %d fps (%d -> %d frames)", path, src_fps, fps, len(frames), n_out)
        frames = frames[idx]
    return np.ascontiguousarray(frames)


class VideoSink:
    """Write RGB frames to a silent mp4 one at a time; :meth:`mux` adds the audio with ffmpeg."""

    def __init__(self, path: str | Path, width: int, height: int, fps: int = FPS):
        self.path = Path(path)
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not self.writer.isOpened():
            raise OSError(f"cannot open {self.path} for writing")

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(frame[:, :, ::-1]))

    def close(self) -> None:
        self.writer.release()


def write_wav(path: str | Path, audio: np.ndarray) -> Path:
    from data_prep.schema import encode_wav
    Path(path).write_bytes(encode_wav(audio))
    return Path(path)


def mux(video: str | Path, audio_wav: str | Path, out: str | Path) -> Path:
    """Silent video + WAV -> H.264/AAC mp4 at ``out`` (ffmpeg, argument list)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [_ffmpeg(), "-v", "error", "-nostdin", "-y", "-i", str(video), "-i", str(audio_wav), "-map", "0:v:0",
           "-map", "1:a:0", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-c:a", "aac", "-b:a", "128k",
           "-shortest", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg mux into {out} failed: {result.stderr[-500:]}")
    return out


def write_video(out: str | Path, frames: Iterable[np.ndarray], width: int, height: int, audio: np.ndarray) -> Path:
    """RGB frames (written one at a time, so a generator keeps memory flat) + int16 16 kHz audio -> mp4 ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        sink = VideoSink(Path(tmp) / "video.mp4", width, height)
        for frame in frames:
            sink.write(frame)
        sink.close()
        return mux(sink.path, write_wav(Path(tmp) / "audio.wav", audio), out)
