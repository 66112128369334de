"""lipsync-demo: stage reuse and invalidation, config errors, and the whole demo on a reduced budget (slow)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.demo.cli import check_config
from evaluation.demo.outputs import read_metrics_csv, summary_table
from evaluation.demo.runner import STAGES, StageRunner, selected_stages

ROOT = Path(__file__).resolve().parents[2]


def counting_functions(calls: list[str], fail: str | None = None, fresh: dict | None = None) -> dict:
    def make(name):
        def fn(is_fresh: bool):
            calls.append(name)
            if fresh is not None:
                fresh[name] = is_fresh
            if name == fail:
                raise RuntimeError(f"{name} killed")
            return {"stage": name}
        return fn
    return {name: make(name) for name in STAGES}


def test_second_run_reuses_finished_stages(tmp_path):
    settings = {name: {"n": 1} for name in STAGES}
    calls: list[str] = []
    first = StageRunner(tmp_path, settings).run(counting_functions(calls), "report")
    assert calls == list(STAGES)
    calls.clear()
    second = StageRunner(tmp_path, settings).run(counting_functions(calls), "report")
    assert calls == []
    assert {k: r.run_id for k, r in first.items()} == {k: r.run_id for k, r in second.items()}


def test_changed_setting_reruns_that_stage_and_the_ones_after(tmp_path):
    settings = {name: {"n": 1} for name in STAGES}
    StageRunner(tmp_path, settings).run(counting_functions([]), "report")
    calls: list[str] = []
    fresh: dict = {}
    StageRunner(tmp_path, {**settings, "unet": {"n": 2}}).run(counting_functions(calls, fresh=fresh), "report")
    assert calls == ["unet", "generate", "score", "report"]
    assert all(fresh.values())  # finished before with other inputs: start clean


def test_stage_run_again_alone_makes_later_stages_stale(tmp_path):
    settings = {name: {"n": 1} for name in STAGES}
    StageRunner(tmp_path, settings).run(counting_functions([]), "report")
    calls: list[str] = []
    StageRunner(tmp_path, settings, rerun=["generate"]).run(counting_functions(calls), "generate")
    assert calls == ["generate"]
    calls.clear()
    StageRunner(tmp_path, settings).run(counting_functions(calls), "report")
    assert calls == ["score", "report"]


def test_killed_stage_runs_again_and_earlier_ones_are_kept(tmp_path):
    settings = {name: {"n": 1} for name in STAGES}
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="unet killed"):
        StageRunner(tmp_path, settings).run(counting_functions(calls, fail="unet"), "report")
    assert not (tmp_path / "stages" / "unet.json").exists()
    calls.clear()
    fresh: dict = {}
    StageRunner(tmp_path, settings).run(counting_functions(calls, fresh=fresh), "report")
    assert calls == ["unet", "generate", "score", "report"]
    assert fresh == {name: False for name in calls}  # nothing had finished: resume what is there


def test_stage_selection_errors_name_the_stage():
    assert selected_stages("all") == list(STAGES)
    assert selected_stages(["score"]) == ["score"]
    with pytest.raises(ValueError, match="unknown \\['scoring'\\]"):
        selected_stages(["scoring"])


def demo_config(**changes) -> dict:
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "demo.yaml"))
    cfg.pop("hydra")
    for key, value in changes.items():
        section, field = key.split(".")
        cfg[section][field] = value
    return cfg


def test_config_typo_stops_before_any_work():
    cfg = demo_config()
    cfg["unet"]["max_step"] = 5
    with pytest.raises(ValueError, match=r"unet: unknown keys \['max_step'\]"):
        check_config(cfg)
    with pytest.raises(FileNotFoundError, match="score.inception_weights"):
        check_config(demo_config(**{"score.inception_weights": "/nonexistent/pt_inception.pth"}))


def test_metrics_csv_and_summary_table(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train/loss,val/acc\n0,9,0.7,\n0,19,0.5,\n0,19,,0.8\n")
    series = read_metrics_csv(csv)
    assert series["train/loss"][0].tolist() == [9, 19] and series["train/loss"][1].tolist() == [0.7, 0.5]
    assert series["val/acc"][0].tolist() == [19]
    table = summary_table({"lse_c": 1.5, "lse_d": 0.25, "fid": 12.0, "fid_inception": "random-init",
                           "videos": {"generated_speech": {"lse_c": 1.5, "lse_d": 0.25, "offset": 0}}})
    assert "generated_speech" in table and "1.500" in table and "random-init Inception" in table


def test_acceptance_needs_every_bound():
    from evaluation.demo.outputs import acceptance_lines
    from evaluation.demo.scoring import acceptance

    rows = {"generated_speech": {"lse_c": 0.5}, "ground_truth": {"lse_c": 0.8}}
    fid = {"generated_speech": {"fid": 90.0}, "source_unsynced": {"fid": 50.0}}
    good = {"margin": 0.3, "wins": 1.0, "in_sync": 7 / 8}
    result = acceptance(rows, fid, good)
    assert result["passed"] and set(result["checks"]) == {"sync_margin.margin", "sync_margin.wins",
                                                          "sync_margin.in_sync", "lse_c_vs_ground_truth",
                                                          "fid_vs_source_control"}
    assert result["checks"]["lse_c_vs_ground_truth"]["value"] == pytest.approx(0.625)
    for name, change in (("sync_margin.in_sync", (good, {"in_sync": 6 / 8})), ("sync_margin.margin", (good, {"margin": 0.2})),
                         ("lse_c_vs_ground_truth", (rows, {"generated_speech": {"lse_c": 0.4}})),
                         ("fid_vs_source_control", (fid, {"generated_speech": {"fid": 101.0}}))):
        base, delta = change
        args = {"rows": rows, "fid_rows": fid, "margin": good}
        key = {id(good): "margin", id(rows): "rows", id(fid): "fid_rows"}[id(base)]
        args[key] = {**base, **delta}
        failed = acceptance(**args)
        assert not failed["passed"] and not failed["checks"][name]["passed"], name
        assert any(line.startswith(f"- {name}") and line.endswith("FAILED") for line in acceptance_lines(failed))
    assert not acceptance(rows, fid, None)["passed"]  # no sync margin computed: nothing shows the model lip-syncs


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_demo_end_to_end_on_a_reduced_budget(tmp_path):
    out = tmp_path / "demo"
    args = [sys.executable, "-m", "evaluation.demo.cli", f"out_dir={out}", "data.n_speakers=4",
            "data.videos_per_speaker=2", "data.n_broken=1", "syncnet.max_steps=30", "judge.max_steps=30",
            "unet.max_steps=30",
            'unet.overrides=["model.vae_warmup_steps=10","data.batches_per_epoch=10"]',
            "generate.num_steps=4", "score.sync_margin_clips=2", "score.sync_margin_frames=30",
            "score.fid_max_frames=60"]
    env = {**os.environ, "WANDB_MODE": "offline"}
    run = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    for key in ("lse_c", "lse_d", "fid"):
        assert math.isfinite(results[key]), (key, results[key])
    assert set(results["videos"]) == {"generated_speech", "generated_text", "ground_truth", "source_unsynced"}
    assert all(math.isfinite(row["lse_c"]) and math.isfinite(row["other_lse_c"]) for row in results["videos"].values())
    assert {row["other_audio"] for row in results["videos"].values()} == {"speech", "text"}
    # judged by the independent judge, not the UNet's loss expert
    assert results["judge"]["ckpt"].endswith("judge/checkpoints/last.ckpt")
    assert results["training_expert"]["ckpt"].endswith("syncnet/checkpoints/last.ckpt")
    assert (results["judge"]["frames"], results["training_expert"]["frames"]) == (8, 16)
    margin = results["sync_margin"]
    assert len(margin["generations"]) == 4 and math.isfinite(margin["margin"]) and margin["reference"] == "shifted"
    # offline here: FID falls back to the random Inception and says why; the control rows are there
    assert results["fid_inception"].startswith("random-init") and "offline" in results["fid_inception"]
    assert set(results["fid_rows"]) == {"generated_speech", "source_unsynced", "test_clips_half_vs_half"}
    assert all(row["frames"][0] <= 60 for row in results["fid_rows"].values())
    assert results["per_viseme_lse_c"]["generated"], "no viseme was scored"
    assert not results["acceptance"]["passed"]  # 30 steps do not lip-sync, and the demo says so
    assert "Lip-sync checks (NOT all passed" in (out / "summary.md").read_text()
    for rel in ("videos/generated/speech.mp4", "videos/generated/text.mp4", "videos/reference/speech.mp4",
                "videos/side_by_side.mp4", "plots/training_curves.png", "plots/viseme_sync_confidence.png",
                "summary.md", "demo_config.yaml", "syncnet/config.yaml", "judge/config.yaml", "unet/config.yaml",
                "prep/config.yaml",
                "data/.hydra/config.yaml"):
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    for run_dir in ("syncnet", "judge", "unet"):
        assert list((out / run_dir / "wandb").glob("offline-run-*")), f"no wandb offline run under {run_dir}/"
    assert "lse_c" in run.stdout and "generated_speech" in run.stdout

    again = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-4000:]
    log = again.stdout + again.stderr  # Hydra's job logging goes to stdout
    assert log.count(" reused ") == len(STAGES), log[-3000:]


def test_published_protocol_scores_the_generated_videos_when_syncnet_v2_weights_are_given(tmp_path):
    """score.syncnet_v2_weights: the generated videos go through lipsync-eval's LSE (crop=track) as well."""
    import torch

    from evaluation.demo.scoring import official_lse
    from lipsync_train.networks import SyncNetV2
    from tests.helpers.video_helpers import face_video

    generated = tmp_path / "videos" / "generated"
    generated.mkdir(parents=True)
    face_video(generated / "speech.mp4", seconds=1.6, fps=25)
    torch.manual_seed(0)
    weights = tmp_path / "syncnet_v2.model"
    torch.save(SyncNetV2().state_dict(), weights)  # random weights in the official format
    c = demo_config()["score"]
    c.update(syncnet_v2_weights=str(weights),
             eval_overrides={"track": {"min_track": 20, "min_face_size": 40}, "progress": False})
    out = official_lse(c, {"generated_speech": str(generated / "speech.mp4")}, tmp_path / "score")
    assert out["failed"] == [] and [row["video"] for row in out["videos"]] == ["speech.mp4"]
    assert math.isfinite(out["lse_c"]) and math.isfinite(out["lse_d"])
    saved = json.loads(Path(out["results"]).read_text())
    assert saved["protocol"]["crop"] == "track" and saved["protocol"]["syncnet_weights"] == str(weights)
