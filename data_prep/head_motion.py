"""Slow random head sway as per-frame affines: drift, rotation and zoom about a centre.

Two rooms need the same motion: the talking-face generator moves its rendered
head (``data_prep/synth/face_rig.py``), and inference gives a single face photo
small natural motion (``lipsync_train/inference/still_image.py``). Each motion
channel is two incommensurate slow sinusoids with random phases, so the sway
never visibly repeats.
"""

from __future__ import annotations

import numpy as np


def head_motion(n_frames: int, fps: float, rng: np.random.Generator, centre: np.ndarray, drift_px: float = 10.0,
                rotate_deg: float = 2.5, zoom: float = 0.04, max_hz: float = 0.5) -> np.ndarray:
    """(T, 2, 3) per-frame affines: slow random drift (px), rotation (degrees) and zoom about ``centre`` (x, y).

    Frequencies are drawn from 0.1 Hz to ``max_hz``; the draws are made in the order x drift, y drift,
    rotation, zoom.
    """
    t = np.arange(n_frames) / fps

    def slow(amplitude: float) -> np.ndarray:
        f = rng.uniform(0.1, max_hz, 2)
        p = rng.uniform(0, 2 * np.pi, 2)
        return amplitude * (0.6 * np.sin(2 * np.pi * f[0] * t + p[0]) + 0.4 * np.sin(2 * np.pi * f[1] * t + p[1]))

    dx, dy, rot, sc = slow(drift_px), slow(drift_px), np.radians(slow(rotate_deg)), 1 + slow(zoom)
    cos, sin = np.cos(rot) * sc, np.sin(rot) * sc
    affines = np.empty((n_frames, 2, 3))
    affines[:, 0, 0], affines[:, 0, 1], affines[:, 1, 0], affines[:, 1, 1] = cos, -sin, sin, cos
    affines[:, 0, 2] = centre[0] - cos * centre[0] + sin * centre[1] + dx
    affines[:, 1, 2] = centre[1] - sin * centre[0] - cos * centre[1] + dy
    return affines
