"""``lipsync-sweep-gather`` on hand-made run directories: columns, order, unfinished runs, clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from lipsync_train.sweep_gather import GatherError, gather, load_runs
from tests.helpers.slurm_helpers import BIN


def make_run(root: Path, name: str, overrides: list[str] | None = None, metrics: dict | None = None,
             step: int = 100, config: dict | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config or {"paths": {"output_dir": str(run)}}))
    if overrides is not None:
        (run / ".hydra").mkdir()
        (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps({"metrics": metrics, "global_step": step}))
    return run


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    sweep = tmp_path / "multirun"
    common = ["experiment=unet_tiny", "data.shards=/d"]
    for i, weight in enumerate(["0.0", "0.05", "0.1"]):
        make_run(sweep, str(i), [f"model.syncnet_weight={weight}", *common, f"paths.output_dir=/o/{i}"],
                 {"val/loss": [0.3, 0.1, 0.2][i], "val/sync": [1.0, 2.0, 3.0][i]})
    make_run(sweep, "10", ["model.syncnet_weight=0.2", *common])  # still running / failed: no metrics.json
    (sweep / ".submitit" / "1_0").mkdir(parents=True)  # hidden dirs are not runs
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


def test_multirun_table_has_swept_keys_status_and_metrics(multirun: Path):
    csv_path, md_path, markdown = gather(multirun)
    assert (csv_path, md_path) == (multirun / "summary.csv", multirun / "summary.md")
    rows = list(csv.DictReader(csv_path.open()))
    assert list(rows[0]) == ["run", "model.syncnet_weight", "status", "global_step", "val/loss", "val/sync"]
    assert [(r["run"], r["model.syncnet_weight"], r["status"]) for r in rows] == [
        ("0", "0.0", "finished"), ("1", "0.05", "finished"), ("2", "0.1", "finished"), ("10", "0.2", "unfinished")]
    assert rows[1]["val/loss"] == "0.1" and rows[3]["val/loss"] == "" and rows[0]["global_step"] == "100"
    assert "`experiment=unet_tiny`" in markdown and "paths.output_dir" not in markdown  # shared; run's own dir
    assert "| 1 | 0.05 | finished | 100 | 0.1 | 2 |" in md_path.read_text()


def test_sort_by_metric_best_first_and_unfinished_last(multirun: Path, tmp_path: Path):
    csv_path, _, _ = gather(multirun, out=tmp_path / "tables" / "ablation", sort="val/loss", ascending=True)
    assert csv_path == tmp_path / "tables" / "ablation.csv"
    assert [r["run"] for r in csv.DictReader(csv_path.open())] == ["1", "2", "0", "10"]
    csv_path, _, _ = gather(multirun, sort="val/sync")
    assert [r["run"] for r in csv.DictReader(csv_path.open())] == ["2", "1", "0", "10"]


def test_runs_without_hydra_overrides_are_compared_by_config(tmp_path: Path):
    for name, lr in (("job-7", 1e-3), ("job-8", 3e-3)):
        out = str(tmp_path / name)
        make_run(tmp_path, name, None, {"val/acc": 0.5}, config={
            "model": {"optimizer": {"lr": lr}}, "seed": 1, "paths": {"output_dir": out},
            "callbacks": {"last": {"dirpath": f"{out}/checkpoints"}}})
    rows = list(csv.DictReader(gather(tmp_path)[0].open()))
    assert list(rows[0])[:2] == ["run", "model.optimizer.lr"] and [r["model.optimizer.lr"] for r in rows] == [
        "0.001", "0.003"]  # the run's own paths are not settings


@pytest.mark.parametrize("write, message", [
    (lambda run: (run / "metrics.json").write_text("{nope"), "metrics.json: not valid JSON"),
    (lambda run: (run / "metrics.json").write_text('{"metrics": {"val/acc": "high"}}'), "field 'metrics'"),
    (lambda run: (run / "metrics.json").write_text('{"metrics": {}, "global_step": "7"}'), "field 'global_step'"),
    (lambda run: (run / ".hydra" / "overrides.yaml").write_text("a: 1\n"), "overrides.yaml: expected a list"),
])
def test_bad_run_files_are_named_with_their_field(tmp_path: Path, write, message: str):
    run = make_run(tmp_path, "0", ["x=1"], {"val/acc": 1.0})
    write(run)
    with pytest.raises(GatherError, match=message) as err:
        load_runs(tmp_path)
    assert str(run) in str(err.value)


def test_cli_errors_name_the_directory_and_metric(multirun: Path, tmp_path: Path):
    def cli(*args):
        return subprocess.run([str(BIN / "lipsync-sweep-gather"), *map(str, args)], capture_output=True, text=True,
                              timeout=60, check=False)
    missing = cli(tmp_path / "nope")
    assert missing.returncode != 0 and f"{tmp_path / 'nope'}: no such directory" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = cli(tmp_path / "empty")
    assert empty.returncode != 0 and "no runs found" in empty.stderr
    unknown = cli(multirun, "--sort", "val/acc")
    assert unknown.returncode != 0 and "val/acc" in unknown.stderr and "val/loss, val/sync" in unknown.stderr
    ok = cli(multirun)
    assert ok.returncode == 0 and "| run | model.syncnet_weight |" in ok.stdout
