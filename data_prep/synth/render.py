"""Draw a talking mouth onto a still face and encode frames + audio to mp4.

The mouth is animated by a smooth backward warp of the lip region (OpenCV
``remap``) in a mouth-aligned coordinate frame: ``u`` along the line between
the inner lip corners, ``v`` perpendicular to it, towards the chin. For a
mouth pose (openness, width, rounding, teeth) the target inner lip contours
are a lens around the photo's lip midline; the upper lip and the lower
lip + jaw are pulled away from it with a displacement that fades towards
nose and chin, and the gap is painted as a dark oral cavity with a hint of
teeth and tongue. Real face detectors (mediapipe face mesh) still see a face
whose inner-lip landmarks follow the opening, which is what the tests check.

Encoding pipes raw RGB frames to ffmpeg (argument lists, never a shell) as
H.264 yuv420p + AAC in an mp4, bit-exact flags on so a seed gives the same
bytes.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
import soundfile as sf

from data_prep.synth.face_rig import LipRig

_CAVITY = np.float32([38, 8, 12])
_TEETH = np.float32([228, 220, 206])
_TONGUE = np.float32([150, 52, 60])


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class MouthGeometry:
    """The lip rig of one speaker's frame, precomputed for fast per-frame warps."""

    origin: np.ndarray  # (2,) midpoint of the inner lip corners, frame pixels
    axes: np.ndarray  # (2, 2) rows: unit u (corner to corner), unit v (towards the chin)
    half_width: float  # a: half the inner-lip width, pixels
    knots: np.ndarray  # (K,) sorted u positions of the inner-lip landmarks
    upper0: np.ndarray  # (K,) v of the photo's upper inner lip at knots
    lower0: np.ndarray  # (K,) v of the photo's lower inner lip
    reach_up: float  # how far above the lips the upper-lip pull fades out
    reach_down: float  # how far below the lips the jaw pull fades out
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the patch that is warped
    grid_u: np.ndarray  # (h, w) float32 local u of every patch pixel
    grid_v: np.ndarray  # (h, w) float32 local v
    bump: np.ndarray  # (h, w) weight of the mouth-width change, 1 at the mouth, 0 far away
    upper_at: np.ndarray  # (h, w) photo's upper inner lip v at each pixel's u (0 beyond the corners)
    lower_at: np.ndarray  # (h, w) photo's lower inner lip v
    mid_at: np.ndarray  # (h, w) midline between the two: where the lips meet when closed

    @staticmethod
    def from_rig(rig: LipRig, frame_size: tuple[int, int]) -> "MouthGeometry":
        left, right = rig.inner_upper[0], rig.inner_upper[-1]
        origin = (left + right) / 2
        eu = (right - left) / np.linalg.norm(right - left)
        ev = np.array([-eu[1], eu[0]])
        axes = np.stack([eu, ev])
        to_local = lambda p: (np.asarray(p) - origin) @ axes.T  # noqa: E731
        up, lo = to_local(rig.inner_upper), to_local(rig.inner_lower)
        knots = np.linspace(up[0, 0], up[-1, 0], 33)
        upper0 = np.interp(knots, *_sorted(up))
        lower0 = np.interp(knots, *_sorted(lo))
        a = float(np.linalg.norm(right - left) / 2)
        reach_up = max(float(-to_local(rig.nose)[1]) * 0.9, a)
        reach_down = max(float(to_local(rig.chin)[1]) * 1.2, 1.5 * a)
        # The patch covers every pixel the warp can move: the width change fades out by
        # |u| = 1.6a, the jaw pull by reach_down below the (opened) lower lip.
        corners = [origin + s_u * 1.65 * a * eu + s_v * ev
                   for s_u in (-1, 1) for s_v in (-reach_up - 2, reach_down + 0.9 * a)]
        corners = np.array(corners)
        w, h = frame_size
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        local = np.stack([gx - origin[0], gy - origin[1]], axis=-1) @ axes.T  # (h, w, 2) u, v
        local = local.astype(np.float32)
        u, v = local[..., 0], local[..., 1]
        bump = ((1 - _smoothstep((np.abs(u) - 1.1 * a) / (0.5 * a)))
                * (1 - _smoothstep((np.abs(v) - 0.5 * a) / (0.9 * a))))
        # The photo's lip contours are looked up at the target u, not the source u: the
        # width change moves them by at most a pixel or two and this keeps the warp cheap.
        upper_at = np.interp(u, knots, upper0, left=0.0, right=0.0).astype(np.float32)
        lower_at = np.interp(u, knots, lower0, left=0.0, right=0.0).astype(np.float32)
        return MouthGeometry(origin, axes, a, knots, upper0, lower0, reach_up, reach_down,
                             (int(x0), int(y0), int(x1), int(y1)), u, v, bump, upper_at, lower_at,
                             (upper_at + lower_at) / 2)


def _sorted(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(points[:, 0])
    return points[order, 0], points[order, 1]


def render_mouth(base: np.ndarray, geo: MouthGeometry, openness: float, width: float = 0.0,
                 rounding: float = 0.0, teeth: float = 0.0) -> np.ndarray:
    """Return a copy of ``base`` (H, W, 3) uint8 RGB with the mouth in the given pose.

    ``openness`` 0 (lips together) .. 1 (wide open vowel); ``width`` -1 (narrow)
    .. 1 (spread); ``rounding`` 0..1 makes the opening rounder and narrower;
    ``teeth`` 0..1 shows the upper teeth over the whole gap (labiodentals).
    """
    a = geo.half_width
    u, v = geo.grid_u, geo.grid_v
    scale = (1 + 0.12 * width) * (1 - 0.15 * rounding)
    src_u = u * (1 + (1 / scale - 1) * geo.bump)
    upper0, lower0, mid = geo.upper_at, geo.lower_at, geo.mid_at
    a_t = a * scale
    # Opening profile across the mouth: sqrt(1 - |u/a|^p) with p from 4 (flat, spread lips)
    # down to 2 (an ellipse, rounded lips); |u/a|^p is blended from x and x^2 (x = (u/a)^2)
    # because float powers of the whole patch cost more than the rest of the warp.
    x = np.square(u * np.float32(1 / a_t))
    lens = np.sqrt(np.clip(1 - (x + (x * x - x) * np.float32(1 - rounding)), 0, 1))
    gap = np.float32(openness * a * (1 + 0.3 * rounding)) * lens  # (h, w) target inner-lip gap, px
    upper, lower = mid - 0.3 * gap, mid + 0.7 * gap

    # Below the midline the lower lip and jaw are pulled, above it the upper lip; each pull
    # fades to nothing at reach_down / reach_up from the lip.
    below = v >= mid
    fade = np.where(below, (v - lower) * np.float32(1 / geo.reach_down), (upper - v) * np.float32(1 / geo.reach_up))
    src_v = v - np.where(below, lower - lower0, upper - upper0) * (1 - _smoothstep(fade))

    (ox, oy), ((eux, euy), (evx, evy)) = geo.origin, geo.axes
    map_x = (ox + src_u * np.float32(eux) + src_v * np.float32(evx)).astype(np.float32)
    map_y = (oy + src_u * np.float32(euy) + src_v * np.float32(evy)).astype(np.float32)
    x0, y0, x1, y1 = geo.box
    patch = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    # Oral cavity between the target inner lips, antialiased by a 1 px ramp; only the
    # rows and columns the opening can reach are touched.
    inside = np.clip(np.minimum(v - upper, lower - v) + 0.5, 0, 1) * np.clip(gap, 0, 1)
    rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
    if rows.size:
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        sub = np.s_[r0:r1, c0:c1]
        alpha = inside[sub][..., None]
        g, up_, uu, vv, ln = gap[sub], upper[sub], u[sub], v[sub], lens[sub]
        mouth = np.broadcast_to(_CAVITY, alpha.shape[:2] + (3,)).copy()
        teeth_h = np.maximum(np.minimum(0.22 * g, 0.2 * a), teeth * g)
        on_teeth = (np.clip(up_ + teeth_h - vv + 0.5, 0, 1) * (ln > 0.25))[..., None]
        mouth += (_TEETH * (0.6 + 0.4 * ln[..., None]) - mouth) * on_teeth
        if openness > 0.35:
            depth = np.clip((vv - up_) / np.maximum(g, 1e-3), 0, 1)
            tongue = (np.clip((depth - 0.7) * 4, 0, 1) * np.clip(1 - np.abs(uu / (0.7 * a_t)), 0, 1))[..., None]
            mouth += (_TONGUE - mouth) * tongue * 0.8
        region = patch[sub].astype(np.float32)
        patch[sub] = (region + (mouth - region) * alpha).astype(np.uint8)

    out = base.copy()
    out[y0:y1, x0:x1] = patch
    return out


def talking_frames(base: np.ndarray, geo: MouthGeometry, track, motion: np.ndarray) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames: the mouth posed by ``track`` (a MouthTrack), then the
    head moved by the (T, 2, 3) affines ``motion`` (the border is mirrored, not black)."""
    h, w = base.shape[:2]
    last_pose, face = None, base
    for k in range(len(track.openness)):
        pose = (float(track.openness[k]), float(track.width[k]), float(track.rounding[k]), float(track.teeth[k]))
        if pose != last_pose:  # a resting mouth (pauses) repeats its pose: draw it once
            face, last_pose = render_mouth(base, geo, *pose), pose
        yield cv2.warpAffine(face, motion[k], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def ffmpeg_rate(fps: float) -> str:
    """ffmpeg's spelling of a frame rate: 29.97 -> '30000/1001'."""
    for num, den in ((24000, 1001), (30000, 1001), (60000, 1001)):
        if abs(fps - num / den) < 1e-3:
            return f"{num}/{den}"
    return str(int(fps)) if float(fps).is_integer() else f"{fps:.6f}"


def write_mp4(path: Path, frames: Iterable[np.ndarray], size: tuple[int, int], fps: float,
              audio: np.ndarray | None, sample_rate: int, codec: str = "libx264") -> Path:
    """Encode RGB frames (each (H, W, 3) uint8, even W and H) and mono float audio to H.264/AAC mp4.

    ``codec="libx265"`` writes HEVC (tagged ``hvc1``, as phones do) for the realistic case.

    The audio track is written as stereo (both channels equal), like most downloads;
    ``audio=None`` writes a file with no audio stream at all.
    """
    path = Path(path)
    w, h = size
    with tempfile.TemporaryDirectory(prefix="synth_") as tmp:
        # Frames go in as yuv420p converted by OpenCV (BT.601, limited range, as ffmpeg
        # assumes): much cheaper than letting ffmpeg's swscale convert rgb24.
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
               "-s", f"{w}x{h}", "-r", ffmpeg_rate(fps), "-i", "pipe:0"]
        if audio is not None:
            wav = Path(tmp) / "audio.wav"
            sf.write(wav, np.asarray(audio, np.float32), sample_rate, subtype="PCM_16")
            # the "fast" AAC coder: the default (twoloop) costs more CPU than the H.264 video
            cmd += ["-i", str(wav), "-c:a", "aac", "-aac_coder", "fast", "-b:a", "96k",
                    "-ar", str(sample_rate), "-ac", "2", "-flags:a", "+bitexact"]
        if codec == "libx265":  # one thread, quiet; crf 20 keeps the fine texture of the realistic faces
            video = ["-c:v", "libx265", "-preset", "ultrafast", "-crf", "20", "-tag:v", "hvc1",
                     "-x265-params", "log-level=error:pools=1:frame-threads=1"]
        else:
            video = ["-c:v", codec, "-preset", "ultrafast", "-crf", "23"]
        cmd += [*video, "-pix_fmt", "yuv420p", "-threads", "1", "-flags:v", "+bitexact", "-fflags", "+bitexact", "-map_metadata", "-1",
                str(path)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for frame in frames:
                proc.stdin.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())  # (H*3/2, W)
        except BrokenPipeError:  # ffmpeg gave up early; its own message is raised below
            pass
        finally:
            try:
                proc.stdin.close()  # also on an error in the frame generator, so ffmpeg ends
            except BrokenPipeError:
                pass
            err = proc.stderr.read().decode(errors="replace")
            proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed writing {path} (exit {proc.returncode}): {err.strip()[-500:]}")
    return path
