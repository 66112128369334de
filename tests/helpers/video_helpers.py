"""Small test videos made with ffmpeg from scikit-image photos (no network, no fixtures on disk).

The astronaut photo (``skimage.data.astronaut``) holds a real face that
mediapipe detects; frames are rendered in numpy (the photo moved and scaled
over a grey canvas), piped raw into ffmpeg and muxed with a generated audio
track. Defaults are deliberately *not* the pipeline's target format (30 fps,
44.1 kHz stereo) so the normalise stage has something to do.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata


def astronaut_rgb() -> np.ndarray:
    """(300, 260, 3) uint8 RGB: the astronaut photo cropped to head and shoulders.

    The face box is about half the crop's height, so ``scale=1.0`` in the
    renderers below gives a face about half the canvas height.
    """
    return np.ascontiguousarray(skdata.astronaut()[0:300, 100:360])


def texture_rgb() -> np.ndarray:
    """(H, W, 3) uint8 RGB texture with no face in it."""
    return np.repeat(skdata.brick()[:, :, None], 3, axis=2)


def scene_rgb() -> np.ndarray:
    """(400, 600, 3) uint8 RGB photo of a coffee cup: a second scene for hard cuts."""
    return skdata.coffee()


def render_moving(image: np.ndarray, n_frames: int, size: tuple[int, int], scale: float,
                  motion: float = 0.08, zoom: float = 0.1, offset_x: float = 0.0) -> np.ndarray:
    """Render ``image`` drifting and zooming over a grey canvas -> (T, H, W, 3) uint8 RGB.

    ``scale`` is the photo's height as a fraction of the canvas height; ``motion``
    the drift amplitude (fraction of the canvas), ``zoom`` the relative scale swing.
    """
    width, height = size
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    ih, iw = image.shape[:2]
    for t in range(n_frames):
        phase = 2 * math.pi * t / max(n_frames, 1)
        s = scale * height / ih * (1 + zoom * math.sin(phase))
        cx = width * (0.5 + offset_x + motion * math.sin(phase))
        cy = height * (0.5 + motion * math.cos(phase))
        affine = np.float32([[s, 0, cx - s * iw / 2], [0, s, cy - s * ih / 2]])
        frames[t] = cv2.warpAffine(image, affine, (width, height), flags=cv2.INTER_AREA,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(110, 110, 110))
    return frames


def write_video(path: Path, frames: np.ndarray, fps: float = 30, audio: str | None = "sine",
                sample_rate: int = 44_100, channels: int = 2) -> Path:
    """Encode (T, H, W, 3) RGB frames to an H.264 mp4 with an optional generated audio track.

    ``audio``: ``"sine"`` (440 Hz), ``"noise"`` (white noise), ``"silent"`` (digital
    zeros) or ``None`` (no audio stream at all).
    """
    path = Path(path)
    t, h, w, _ = frames.shape
    seconds = t / fps
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0"]
    layout = "stereo" if channels == 2 else "mono"
    sources = {
        "sine": f"sine=frequency=440:sample_rate={sample_rate}:duration={seconds}",
        "noise": f"anoisesrc=color=white:amplitude=0.3:sample_rate={sample_rate}:duration={seconds}",
        "silent": f"anullsrc=channel_layout={layout}:sample_rate={sample_rate}",
    }
    if audio is not None:
        cmd += ["-f", "lavfi", "-t", f"{seconds}", "-i", sources[audio],
                "-c:a", "aac", "-ac", str(channels), "-ar", str(sample_rate)]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def face_video(path: Path, seconds: float = 2.0, fps: float = 30, size: tuple[int, int] = (320, 240),
               scale: float = 1.0, audio: str | None = "sine", sample_rate: int = 44_100,
               motion: float = 0.08, zoom: float = 0.1) -> Path:
    """One moving, zooming astronaut face (face box about 0.5 * scale * canvas height)."""
    frames = render_moving(astronaut_rgb(), round(seconds * fps), size, scale, motion, zoom)
    return write_video(path, frames, fps, audio, sample_rate)


def two_faces_video(path: Path, seconds: float = 1.5, fps: float = 30, audio: str | None = "sine") -> Path:
    """Two astronauts side by side on a 480x240 canvas."""
    n = round(seconds * fps)
    left = render_moving(astronaut_rgb(), n, (240, 240), 1.0, motion=0.02, zoom=0.0)
    right = render_moving(astronaut_rgb(), n, (240, 240), 1.0, motion=0.02, zoom=0.0)[:, :, ::-1]
    return write_video(path, np.ascontiguousarray(np.concatenate([left, right], axis=2)), fps, audio)


def tiny_face_video(path: Path, seconds: float = 1.5, fps: float = 30, audio: str | None = "sine") -> Path:
    """The astronaut scaled so the face is about 45 px tall in a 320x240 frame (detected, but small)."""
    return face_video(path, seconds, fps, (320, 240), scale=0.5, audio=audio, motion=0.02, zoom=0.0)


def no_face_video(path: Path, seconds: float = 1.5, fps: float = 30, audio: str | None = "sine") -> Path:
    """A drifting brick texture: no face anywhere."""
    frames = render_moving(texture_rgb(), round(seconds * fps), (320, 240), 1.5, motion=0.05, zoom=0.0)
    return write_video(path, frames, fps, audio)


def hard_cut_video(path: Path, seconds_each: float = 2.0, fps: float = 30, audio: str | None = "sine") -> Path:
    """Astronaut face for ``seconds_each``, then a hard cut to a coffee-cup scene."""
    n = round(seconds_each * fps)
    face = render_moving(astronaut_rgb(), n, (320, 240), 1.0, motion=0.03, zoom=0.05)
    cup = render_moving(scene_rgb(), n, (320, 240), 1.0, motion=0.03, zoom=0.05)
    return write_video(path, np.concatenate([face, cup]), fps, audio)


def truncated_copy(src: Path, dst: Path, keep_fraction: float = 0.3) -> Path:
    """Copy only the first ``keep_fraction`` of ``src``'s bytes (an mp4 cut mid-download)."""
    raw = Path(src).read_bytes()
    Path(dst).write_bytes(raw[: int(len(raw) * keep_fraction)])
    return Path(dst)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def make_video(path, n_frames=30, size=224, audio="noise"):
    """A moving astronaut face, 25 fps, with 16 kHz mono noise audio (or none)."""
    frames = render_moving(astronaut_rgb(), n_frames, (size, size), 1.0)
    return write_video(path, frames, fps=25, audio=audio, sample_rate=16000, channels=1)
