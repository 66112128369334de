"""``lipsync-eval`` end to end on generated videos: results.json layout, failures, loaders, viseme report."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from evaluation.reference_lse import reference_evaluate
from evaluation.syncnet_loader import build_syncnet_v2, extract_syncnet_state, load_syncnet
from tests.helpers.video_helpers import make_video
from tests.helpers.video_helpers import ffmpeg_available

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "syncnet_v2.model"
    torch.save(build_syncnet_v2().state_dict(), path)  # the official format: netcnnaud.0.weight, ...
    return path


def test_loader_accepts_official_and_project_checkpoints(tmp_path, weights):
    official = torch.load(weights, weights_only=True)
    assert "netcnnaud.0.weight" in official
    lightning = {"state_dict": {f"model.{k}": v for k, v in official.items()}, "epoch": 3}
    ckpt = tmp_path / "last.ckpt"
    torch.save(lightning, ckpt)
    model = load_syncnet(ckpt)
    torch.testing.assert_close(model.netfclip[3].weight, official["netfclip.3.weight"])
    with pytest.raises(ValueError, match="netcnnaud.0.weight"):
        extract_syncnet_state({"state_dict": {"tower.weight": torch.zeros(1)}}, "other.ckpt")


def run_cli(*overrides):
    return subprocess.run([sys.executable, "-m", "evaluation.cli", *overrides, "progress=false"],
                          capture_output=True, text=True, check=False)


def test_cli_lse_results_json(tmp_path, weights):
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / "good.mp4", n_frames=10)
    make_video(videos / "good2.mkv", n_frames=8)
    make_video(videos / "silent.mp4", n_frames=12, audio=None)
    make_video(videos / "short.mov", n_frames=4)
    visemes = tmp_path / "visemes"
    visemes.mkdir()
    np.save(visemes / "good.viseme_ids.npy", (np.arange(10) % 3 - 1).astype(np.int16))
    np.save(visemes / "good2.viseme_ids.npy", np.zeros(8, np.int16))
    out = tmp_path / "out"
    proc = run_cli(f"videos={videos}", f"syncnet_weights={weights}", "crop=none", "metrics=[lse,viseme_lse]",
                   f"visemes={visemes}", f"out_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert [v["video"] for v in res["videos"]] == ["good.mp4", "good2.mkv"]
    assert {f["video"]: f["reason"] for f in res["failed"]} == {"silent.mp4": "no_audio", "short.mov": "too_short"}
    model = load_syncnet(weights)
    for row in res["videos"]:
        assert set(row) == {"video", "lse_c", "lse_d", "offset"}
        # each row is what the reference port of syncnet_python (JPEG dump, cv2, python_speech_features) gives
        offset, lse_c, lse_d = reference_evaluate(model, videos / row["video"])
        assert row["offset"] == offset, row
        assert (row["lse_c"], row["lse_d"]) == pytest.approx((lse_c, lse_d), rel=1e-4, abs=1e-4), row
    assert res["lse_c"] == pytest.approx(np.mean([v["lse_c"] for v in res["videos"]]))
    assert res["lse_d"] == pytest.approx(np.mean([v["lse_d"] for v in res["videos"]]))
    assert "fid" not in res and res["protocol"]["crop"] == "none"
    rows = list(csv.DictReader(open(out / "videos.csv")))
    n_good, n_good2 = (int(r["n_windows"]) for r in rows)
    assert 1 <= n_good <= 5 and 1 <= n_good2 <= 4  # mkv ms timestamps: ffmpeg (like the reference) may repeat a frame
    centres = np.arange(n_good) + 2  # window i is attributed to its centre frame i + 2
    per_viseme = res["per_viseme_lse_c"]
    assert per_viseme["bilabial"]["n_windows"] == n_good2 + int(np.sum(centres % 3 == 1))
    assert per_viseme["silence"]["n_windows"] == int(np.sum(centres % 3 == 0))
    assert sum(v["n_windows"] for v in per_viseme.values()) == n_good + n_good2
    assert (out / "report.png").stat().st_size > 1000
    assert (out / ".hydra" / "config.yaml").is_file()


def test_cli_rejects_bad_config_before_compute(tmp_path, weights):
    proc = run_cli(f"videos={tmp_path}", f"syncnet_weights={weights}", "metrics=[lse,fdi]", f"out_dir={tmp_path}/o")
    assert proc.returncode != 0 and "unknown ['fdi']" in proc.stderr
    proc = run_cli(f"videos={tmp_path}", "metrics=[lse,fid]", f"syncnet_weights={weights}", f"out_dir={tmp_path}/o")
    assert proc.returncode != 0 and "reference is not set" in proc.stderr


@pytest.mark.slow
def test_cli_fid(tmp_path, weights):
    from evaluation.fid_inception import FIDInceptionV3

    torch.manual_seed(0)
    inception = tmp_path / "pt_inception.pth"
    torch.save(FIDInceptionV3().state_dict(), inception)
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir()
    ref.mkdir()
    make_video(gen / "a.mp4", n_frames=8, size=96)
    make_video(ref / "a.mp4", n_frames=8, size=128)
    out = tmp_path / "out"
    proc = run_cli(f"videos={gen}", f"syncnet_weights={weights}", f"reference={ref}",
                   f"inception_weights={inception}", "metrics=[lse,fid]", f"out_dir={out}", "fid.every_nth_frame=2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert res["fid"] > 0 and res["n_generated_frames"] == res["n_reference_frames"] == 4
    assert len(res["videos"]) == 1


def test_weights_given_by_url_pass_the_config_check_and_fail_offline_in_the_loader(tmp_path):
    from data_prep.pretrained import PretrainedNotAvailable
    from evaluation.cli import check_config

    url = "https://example.org/syncnet_v2.model"
    metrics = check_config({"metrics": ["lse"], "crop": "none", "syncnet_weights": url, "videos": str(tmp_path)})
    assert [m.name for m in metrics] == ["lse"]
    with pytest.raises(PretrainedNotAvailable, match="syncnet_weights"):
        load_syncnet(url)
