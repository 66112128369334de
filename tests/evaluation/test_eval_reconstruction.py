"""Reconstruction metrics (mouth SSIM / PSNR, lip LMD) on generated astronaut videos, and ``metrics=[recon]``.

Videos are written losslessly (FFV1 from RGB) so a perturbation outside the
mouth box cannot leak into it through the codec, and the ground-truth mouth
boxes used to place the perturbations come from the module under test.
"""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from evaluation import reconstruction as recon
from tests.helpers.video_helpers import astronaut_rgb, ffmpeg_available, render_moving

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed")
N_FRAMES = 16


def write_lossless(path, frames_rgb):
    t, h, w, _ = frames_rgb.shape
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", "25", "-i", "pipe:0", "-c:v", "ffv1", "-pix_fmt", "bgr0", str(path)],
                   input=np.ascontiguousarray(frames_rgb).tobytes(), check=True)
    return path


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """truth/ and gen/ folders: same (a copy), mouth (lips moved down 5 px), outside (top rows noised), short."""
    root = tmp_path_factory.mktemp("recon")
    truth, gen = root / "truth", root / "gen"
    truth.mkdir()
    gen.mkdir()
    rgb = render_moving(astronaut_rgb(), N_FRAMES, (224, 224), 1.0)  # (T, 224, 224, 3)
    landmarks = recon.face_landmarks(rgb[..., ::-1].copy())
    assert np.isfinite(landmarks).all(), "the face mesh must find the astronaut in every frame"
    boxes = recon.mouth_boxes(landmarks)
    mouth = rgb.copy()
    for t in range(N_FRAMES):
        lo = np.floor(landmarks[t, recon.LIP_INDICES].min(0)).astype(int)
        hi = np.ceil(landmarks[t, recon.LIP_INDICES].max(0)).astype(int)
        mouth[t, lo[1] + 5:hi[1] + 5, lo[0]:hi[0]] = rgb[t, lo[1]:hi[1], lo[0]:hi[0]]
    outside = rgb.copy()
    top = int(boxes[:, 1].min()) - 2  # every mouth box starts below this row
    assert top > 20
    outside[:, :top] = np.random.default_rng(0).integers(0, 256, outside[:, :top].shape, np.uint8)
    for name in ("same", "mouth", "outside", "short"):
        write_lossless(truth / f"{name}.mkv", rgb)
    write_lossless(gen / "same.mkv", rgb)
    write_lossless(gen / "mouth.mkv", mouth)
    write_lossless(gen / "outside.mkv", outside)
    write_lossless(gen / "short.mkv", rgb[:-3])
    write_lossless(gen / "orphan.mkv", rgb)
    return truth, gen


def test_lip_indices_are_mediapipe_lips():
    import mediapipe as mp

    lips = {i for edge in mp.solutions.face_mesh.FACEMESH_LIPS for i in edge}
    assert len(recon.LIP_INDICES) == 40 and set(recon.LIP_INDICES.tolist()) == lips


def test_mouth_boxes_and_crop():
    lm = np.full((2, 478, 2), np.nan, np.float32)
    lm[0, recon.LIP_INDICES] = np.random.default_rng(0).uniform([40, 60], [80, 80], (40, 2))
    lm[0, recon.LIP_INDICES[:2]] = [[40, 60], [80, 80]]  # lip box exactly 40 x 20, centre (60, 70)
    boxes = recon.mouth_boxes(lm, margin=0.25)
    assert boxes[0].tolist() == [30, 40, 90, 100]  # square of side 1.5 * 40 around the centre
    assert boxes[1].tolist() == [-1, -1, -1, -1]  # no face in frame 1
    frame = np.full((50, 50, 3), 200, np.uint8)
    crop = recon.crop_box(frame, np.array([25, 25, 75, 75]), 10)  # the frame covers its top-left quarter
    assert crop.shape == (10, 10, 3) and crop[:5, :5].min() == 200 and crop[5:, 5:].max() == 0


def test_compare_identical_mouth_and_outside(dirs):
    truth, gen = dirs
    same = recon.compare_videos(gen / "same.mkv", truth / "same.mkv")
    assert same["ssim"] == pytest.approx(1.0) and same["psnr"] == recon.PSNR_CAP and same["lmd"] == 0.0
    assert same["recon_frames"] == same["lmd_frames"] == N_FRAMES and same["recon_frames_skipped"] == 0
    mouth = recon.compare_videos(gen / "mouth.mkv", truth / "mouth.mkv")
    assert mouth["ssim"] < 0.95 and mouth["psnr"] < 35 and mouth["lmd"] > 1.0
    outside = recon.compare_videos(gen / "outside.mkv", truth / "outside.mkv")
    assert outside["ssim"] == pytest.approx(1.0) and outside["psnr"] == recon.PSNR_CAP
    with pytest.raises(recon.ReconFailed, match=f"{N_FRAMES - 3} frames") as err:
        recon.compare_videos(gen / "short.mkv", truth / "short.mkv")
    assert err.value.reason == "frame_count"


def test_cli_recon(dirs, tmp_path):
    truth, gen = dirs
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "evaluation.cli", f"videos={gen}", f"reference={truth}",
                           "metrics=[recon]", f"out_dir={out}", "progress=false"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    rows = {row["video"]: row for row in res["videos"]}
    assert list(rows) == ["mouth.mkv", "outside.mkv", "same.mkv"]
    reasons = {f["video"]: f["reason"] for f in res["failed"]}
    assert reasons == {"orphan.mkv": "no_reference", "short.mkv": "frame_count"}
    for key in ("ssim", "psnr", "lmd"):
        assert res[key] == pytest.approx(np.mean([row[key] for row in rows.values()]))
    assert rows["same.mkv"]["lmd"] == 0 and rows["mouth.mkv"]["lmd"] > 1.0
    assert res["protocol"]["recon"]["mouth_size"] == 96 and len(res["protocol"]["recon"]["lip_indices"]) == 40
    table = list(csv.DictReader(open(out / "videos.csv")))
    assert [r["video"] for r in table] == list(rows) and float(table[2]["ssim"]) == pytest.approx(1.0)
    assert "lse_c" not in res and "ssim=" in proc.stdout
