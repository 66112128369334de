"""A single photo as the source: fitted to the model's resolution, small smooth head motion, exact paste-back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from data_prep.face_align import align
from data_prep.media import read_frames
from lipsync_train.inference.still_image import (fit_photo_to_model, moved_frame, natural_head_motion,
                                                 pixels_per_aligned_pixel)
from lipsync_train.inference.pipeline import LipSyncPipeline
from lipsync_train.inference.video import lipsync_video
from tests.helpers.unet_helpers import tiny_parts

S = 32


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]],
                     np.float32)


def smooth_photo(h: int = 240, w: int = 320, seed: int = 0, cell: int = 16) -> np.ndarray:
    """Low-frequency random colours (one random colour per ``cell`` px): resampling barely changes it."""
    small = np.random.default_rng(seed).integers(0, 256, (h // cell, w // cell, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def test_photo_is_shrunk_so_the_face_has_the_crops_resolution():
    photo = smooth_photo(cell=80)
    affine = similarity(5, 0.25, -20, -10)  # 4 photo pixels per crop pixel: the mouth would be upscaled 4x
    small, fitted, scale = fit_photo_to_model(photo, affine)
    assert scale == pytest.approx(0.25) and small.shape[:2] == (60, 80)
    assert pixels_per_aligned_pixel(fitted) == pytest.approx(1.0, abs=0.02)
    point = np.array([123.0, 77.0])  # a photo point lands on the same crop pixel through either transform
    assert np.allclose(fitted[:, :2] @ (point * 0.25) + fitted[:, 2], affine[:, :2] @ point + affine[:, 2])
    diff = np.abs(align(small, fitted, S).astype(int) - align(photo, affine, S).astype(int))
    assert diff.mean() < 4  # the same face crop, from the smaller photo
    same, kept, one = fit_photo_to_model(photo, similarity(0, 2.0, 0, 0))  # already finer than the crop: untouched
    assert one == 1.0 and same is photo and np.array_equal(kept, similarity(0, 2.0, 0, 0))


def test_head_motion_is_small_smooth_and_seeded():
    affine = similarity(0, 0.2, -20, -10)  # a 160 px crop side in the photo
    motion = natural_head_motion(250, affine, S, seed=3)
    assert np.array_equal(motion, natural_head_motion(250, affine, S, seed=3))
    assert not np.allclose(motion, natural_head_motion(250, affine, S, seed=4))
    angle = np.degrees(np.arctan2(motion[:, 1, 0], motion[:, 0, 0]))
    zoom = np.hypot(motion[:, 0, 0], motion[:, 1, 0])
    assert np.abs(angle).max() <= 1.0 and np.abs(zoom - 1).max() <= 0.01 and angle.std() > 0.05
    centre = cv2.invertAffineTransform(affine) @ np.array([S / 2, S / 2, 1.0])  # the face centre moves little
    moved = motion[:, :, :2] @ centre + motion[:, :, 2]  # (T, 2)
    assert np.abs(moved - centre).max() <= 0.01 * 160 * 1.5
    assert np.abs(np.diff(moved, axis=0)).max() < 0.5  # under half a pixel a frame: a sway, not a jitter


def test_moved_frame_transform_still_finds_the_same_face():
    photo = smooth_photo()
    affine = similarity(3, 0.2, -20, -10)
    motion = natural_head_motion(50, affine, S, seed=0, rotate_deg=3, drift=0.05)
    frame, moved_affine = moved_frame(photo, affine, motion[37])
    assert not np.array_equal(frame, photo)
    diff = np.abs(align(frame, moved_affine, S).astype(int) - align(photo, affine, S).astype(int))
    assert diff.mean() < 3


def test_a_photo_becomes_a_moving_video_at_the_fitted_size(tmp_path):
    net, vae, enc, schedule = tiny_parts(seed=0)
    pipeline = LipSyncPipeline(net, vae, enc, schedule, image_size=S)
    photo = smooth_photo()
    audio = (np.random.default_rng(0).standard_normal(640 * 10) * 3000).astype(np.int16)
    affine = similarity(0, 0.5, -40, -30)[None]  # 2 photo pixels per crop pixel -> a 160 x 120 video
    out = lipsync_video(pipeline, photo[None], audio, tmp_path / "fit.mp4", affines=affine, num_steps=1)
    frames = read_frames(out.out)
    assert frames.shape == (10, 120, 160, 3)
    assert all(np.abs(frames[i].astype(int) - frames[0]).mean() > 0.3 for i in range(5, 10))  # the head moves
    kept = lipsync_video(pipeline, photo[None], audio, tmp_path / "keep.mp4", affines=affine, num_steps=1,
                         still_fit=False, still_motion=False)
    still = read_frames(kept.out)
    assert still.shape == (10, 240, 320, 3)
    top = slice(0, 40)  # far from the mouth: the same picture in every frame without motion (up to the codec)
    assert np.abs(still[:, top].astype(int) - still[0, top]).mean() < 0.3
    assert np.abs(frames[:, :20].astype(int) - frames[0, :20]).mean() > 1.0
