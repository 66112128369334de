"""Quality filters and the active-speaker rules on face-mesh points of the scikit-image face photo.

Each filter gets an input it must drop (with its reason) and one it must keep;
the head-pose measure is checked against known 3-D rotations of a real mesh.
The end-to-end counterparts on generated HEVC video are in test_web_video.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from data_prep.faces import head_pose
from data_prep.workflow.active_speaker import choose_face, link_faces
from data_prep.workflow.drops import Dropped
from data_prep.workflow.quality import QualityThresholds, check_quality, check_upscale, measure_clip


@pytest.fixture(scope="module")
def mesh3d() -> np.ndarray:
    """(478, 3) pixel mesh points (z like x) of the frontal face photo."""
    import mediapipe as mp
    from data_prep.synth.face_rig import face_photo

    image = face_photo()
    h, w = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as mesh:
        face = mesh.process(image).multi_face_landmarks[0]
    return np.array([(p.x * w, p.y * h, p.z * w) for p in face.landmark], np.float32)


def _yawed(points: np.ndarray, degrees: float) -> np.ndarray:
    """Turn the head about the vertical axis through its centroid."""
    a = np.radians(degrees)
    centre = points.mean(0)
    x, y, z = (points - centre).T
    return np.stack([x * np.cos(a) + z * np.sin(a), y, -x * np.sin(a) + z * np.cos(a)], -1) + centre


def _measures(points: np.ndarray, n: int = 30, sharpness: float = 500.0) -> dict:
    pose = np.tile(np.array(head_pose(points), np.float32), (n, 1))
    frames = np.full((n, 256, 256, 3), 128, np.uint8)
    affines = np.tile(np.float32([[0.6, 0, 0], [0, 0.6, 0]]), (n, 1, 1))
    quality = measure_clip(affines, frames, pose, None)
    quality["mouth_sharpness"] = sharpness  # the blur filter is exercised on video in test_web_video
    return quality


def _reason(quality: dict, **limits) -> str | None:
    try:
        check_quality(quality, QualityThresholds(**limits), "clip_0000")
    except Dropped as drop:
        return drop.reason
    return None


def test_head_pose_follows_a_known_turn(mesh3d):
    yaw0, _ = head_pose(mesh3d)
    for turn in (20.0, 50.0):
        yaw, _ = head_pose(_yawed(mesh3d, turn))
        assert abs(abs(yaw - yaw0) - turn) < 8, f"turned {turn} deg, measured {yaw - yaw0:.1f}"


def test_profile_filter_drops_a_turned_head_and_keeps_a_frontal_one(mesh3d):
    assert _reason(_measures(mesh3d)) is None
    assert _reason(_measures(_yawed(mesh3d, 10))) is None
    assert _reason(_measures(_yawed(mesh3d, 65))) == "profile"


def test_blur_threshold_drops_below_and_keeps_above(mesh3d):
    assert _reason(_measures(mesh3d, sharpness=5.0)) == "blurry"
    assert _reason(_measures(mesh3d, sharpness=300.0)) is None


def test_jitter_filter_drops_shaky_landmarks_and_keeps_smooth_motion(mesh3d):
    rng = np.random.default_rng(0)
    t = np.arange(40)[:, None, None]
    smooth = mesh3d[None, :, :2] + np.concatenate([15 * np.sin(t / 7), 8 * np.cos(t / 11)], -1)  # (40, 478, 2)
    eye = np.linalg.norm(mesh3d[263, :2] - mesh3d[33, :2])
    shaky = smooth + rng.normal(0, 0.05 * eye, smooth.shape)
    affines = np.tile(np.float32([[0.6, 0, 0], [0, 0.6, 0]]), (40, 1, 1))
    frames = np.full((40, 64, 64, 3), 128, np.uint8)
    calm = measure_clip(affines, frames, None, smooth.astype(np.float32))
    calm["mouth_sharpness"] = 500.0
    noisy = dict(calm, jitter=measure_clip(affines, frames, None, shaky.astype(np.float32))["jitter"])
    assert calm["jitter"] < 0.005
    assert _reason(calm) is None
    assert _reason(noisy) == "jittery"


def test_upscale_limit_depends_on_the_crop_size():
    limits = QualityThresholds()
    check_upscale(1.3, 512, limits, "clip_0000")  # 512 px: up to 1.5x by default
    for upscale, size in ((1.3, 256), (1.6, 512)):
        with pytest.raises(Dropped, match="face_too_small"):
            check_upscale(upscale, size, limits, "clip_0000")
    with pytest.raises(Dropped, match="max_upscale 1.0"):
        check_upscale(1.3, 512, QualityThresholds(max_upscale=1.0), "clip_0000")


def test_recorded_thresholds_are_the_ones_the_check_applies():
    """index.json records ``applied(size)``; the drop detail names the same limit (was: null vs 1.0)."""
    for limits, size in ((QualityThresholds(), 256), (QualityThresholds(), 512), (QualityThresholds(max_upscale=1.2), 256)):
        limit = limits.applied(size)["max_upscale"]
        assert limit == (limits.max_upscale or {256: 1.0, 512: 1.5}[size])
        check_upscale(limit, size, limits, "clip_0000")  # at the limit: kept
        with pytest.raises(Dropped, match=f"quality.max_upscale {limit}$"):
            check_upscale(limit + 0.01, size, limits, "clip_0000")
    assert QualityThresholds(max_yaw=20.0).applied(256)["max_yaw"] == 20.0


def _two_people(mesh3d, scale_b: float, n: int = 20, talker: str | None = None, energy=None) -> np.ndarray:
    """(n, 2, 478, 3) linked faces: A on the left, B (``scale_b`` times larger) on the right."""
    a = mesh3d.copy()
    b = (mesh3d - mesh3d.mean(0)) * scale_b + mesh3d.mean(0) + np.float32([600, 0, 0])
    frames = []
    for k in range(n):
        fa, fb = a.copy(), b.copy()
        if talker is not None:  # the talker's lower lip drops with the audio energy
            face = fa if talker == "a" else fb
            face[14, 1] += 25 * energy[k]
        frames.append(np.stack([fb, fa]))  # candidate order is not identity order
    return link_faces(frames)


def test_speaker_rules_box_then_audio_motion_then_largest(mesh3d):
    flat = np.ones(20)
    energy = np.abs(np.sin(np.arange(20) / 2.0))
    size = (1200, 600)
    # largest: clearly bigger face wins when the audio cannot tell
    linked = _two_people(mesh3d, 1.5)
    choice, rule = choose_face(linked, flat, None, size)
    assert rule == "largest" and np.nanmedian(linked[:, choice, 1, 0]) > 500
    # alike faces, silent: ambiguous (the frames stay several_faces)
    assert choose_face(_two_people(mesh3d, 1.05), flat, None, size) == (-1, "ambiguous")
    # audio motion beats size: the smaller face A talks
    linked = _two_people(mesh3d, 1.5, talker="a", energy=energy)
    choice, rule = choose_face(linked, energy, None, size)
    assert rule == "audio_motion" and np.nanmedian(linked[:, choice, 1, 0]) < 500
    # a manifest box beats audio motion: the box is around the silent B (right half)
    box = {"top": 0.0, "bottom": 1.0, "left": 0.5, "right": 1.0}
    choice, rule = choose_face(linked, energy, box, size)
    assert rule == "box" and np.nanmedian(linked[:, choice, 1, 0]) > 500
