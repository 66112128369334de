"""Gather the runs of a sweep into one table (CSV + markdown): the ``lipsync-sweep-gather`` script.

    lipsync-sweep-gather runs/unet_tiny/multirun/2026-01-31_12-00-00        # -> summary.csv, summary.md there
    lipsync-sweep-gather SWEEP_DIR --out results/ablation --sort val/loss --ascending

A run is a directory under SWEEP_DIR (searched recursively, hidden directories skipped) that holds
what ``lipsync-train`` writes: ``config.yaml`` at the start, ``metrics.json`` at the end, and, in a
Hydra multirun, ``.hydra/overrides.yaml``. A run without ``metrics.json`` is listed as unfinished.

Columns: ``run`` (its path under SWEEP_DIR), the settings that differ between runs, ``status``,
``global_step``, then every final metric. The settings come from the runs' Hydra overrides when every
run has them (a multirun), else from their resolved ``config.yaml`` (runs submitted one by one, e.g.
with slurm/train.sbatch), leaving out values that only name the run's own output directory. Settings
shared by all runs are listed above the markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RUN_FILES = ("metrics.json", "config.yaml", ".hydra/overrides.yaml")
NOT_SETTINGS = ("paths.output_dir", "hydra.")  # where a run writes is its name already, not a setting


class GatherError(ValueError):
    """A sweep directory or run file that cannot be read; the message names the file and field."""


@dataclass
class Run:
    name: str
    path: Path
    settings: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    global_step: int | None = None
    finished: bool = False


def find_runs(sweep_dir: Path) -> list[Path]:
    """Directories under ``sweep_dir`` holding a run's files; runs do not nest, hidden dirs are skipped."""
    if any((sweep_dir / f).is_file() for f in RUN_FILES):
        return [sweep_dir]
    runs = []
    for child in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        runs += find_runs(child)
    return runs


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise GatherError(f"{path}: not valid YAML ({err})") from err


def read_overrides(path: Path) -> dict[str, str] | None:
    """``.hydra/overrides.yaml`` (a list of ``key=value``) -> {key: value}; None when the file is absent."""
    if not path.is_file():
        return None
    items = _read_yaml(path) or []
    if not isinstance(items, list) or not all(isinstance(i, str) and "=" in i for i in items):
        raise GatherError(f"{path}: expected a list of 'key=value' strings, got {items!r}")
    return {key.lstrip("+~"): value for key, value in (i.split("=", 1) for i in items)}


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts -> {"a.b.c": "value"} with lists and scalars as compact JSON-like strings."""
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: json.dumps(node, ensure_ascii=False) if not isinstance(node, str) else node}


def read_config_settings(run_dir: Path) -> dict[str, str]:
    """The resolved ``config.yaml`` flattened, without values that name the run's own output directory."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    config = _read_yaml(path)
    if not isinstance(config, dict):
        raise GatherError(f"{path}: expected a mapping (lipsync-train's resolved config), got {type(config).__name__}")
    own = str(config.get("paths", {}).get("output_dir", "")) or str(run_dir)
    return {k: v for k, v in flatten(config).items() if own not in v}


def read_metrics(path: Path) -> tuple[dict[str, float], int | None]:
    """``metrics.json`` -> ({name: value}, global_step)."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise GatherError(f"{path}: not valid JSON ({err})") from err
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
        raise GatherError(f"{path}: field 'metrics' must be an object of numbers (as lipsync-train writes it)")
    step = data.get("global_step")
    if step is not None and not isinstance(step, int):
        raise GatherError(f"{path}: field 'global_step' must be an integer, got {step!r}")
    return {k: float(v) for k, v in metrics.items()}, step


def load_runs(sweep_dir: Path) -> list[Run]:
    if not sweep_dir.is_dir():
        raise GatherError(f"{sweep_dir}: no such directory")
    paths = find_runs(sweep_dir)
    if not paths:
        raise GatherError(f"{sweep_dir}: no runs found (directories holding {', '.join(RUN_FILES)})")
    runs = [Run(name=str(p.relative_to(sweep_dir)) if p != sweep_dir else p.name, path=p) for p in paths]
    overrides = [read_overrides(r.path / ".hydra" / "overrides.yaml") for r in runs]
    use_overrides = all(o is not None for o in overrides)
    for run, over in zip(runs, overrides):
        settings = over if use_overrides else read_config_settings(run.path)
        run.settings = {k: v for k, v in settings.items() if not k.startswith(NOT_SETTINGS)}
        if (run.path / "metrics.json").is_file():
            run.metrics, run.global_step = read_metrics(run.path / "metrics.json")
            run.finished = True
    return runs


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def build_table(runs: list[Run], sort: str | None = None, ascending: bool = False
                ) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
    """-> (columns, rows, settings shared by every run)."""
    keys = sorted({k for r in runs for k in r.settings})
    varying = [k for k in keys if len({r.settings.get(k) for r in runs}) > 1]
    common = {k: runs[0].settings[k] for k in keys if k not in varying}
    metric_names = sorted({m for r in runs for m in r.metrics})
    if sort is not None and sort not in metric_names:
        raise GatherError(f"--sort {sort}: no run has this metric; metrics found: {', '.join(metric_names) or 'none'}")
    if sort is None:
        runs = sorted(runs, key=lambda r: _natural(r.name))
    else:  # runs without the metric go last either way
        missing = [r for r in runs if sort not in r.metrics]
        ranked = sorted((r for r in runs if sort in r.metrics), key=lambda r: r.metrics[sort], reverse=not ascending)
        runs = ranked + missing
    columns = ["run", *varying, "status", "global_step", *metric_names]
    rows = [{"run": r.name, **{k: r.settings.get(k, "") for k in varying},
             "status": "finished" if r.finished else "unfinished",
             "global_step": "" if r.global_step is None else r.global_step,
             **{m: r.metrics.get(m, "") for m in metric_names}} for r in runs]
    return columns, rows, common


def _cell(value: Any) -> str:
    if isinstance(value, float):
        value = "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def to_markdown(columns: list[str], rows: list[dict[str, Any]], common: dict[str, str], title: str) -> str:
    lines = [f"## Sweep {title}", ""]
    if common:
        lines += ["Shared by every run: " + ", ".join(f"`{k}={v}`" for k, v in common.items()), ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def gather(sweep_dir: str | Path, out: str | Path | None = None, sort: str | None = None,
           ascending: bool = False) -> tuple[Path, Path, str]:
    """Write ``OUT.csv`` and ``OUT.md`` (default ``SWEEP_DIR/summary``) -> (csv path, md path, markdown)."""
    sweep_dir = Path(sweep_dir)
    columns, rows, common = build_table(load_runs(sweep_dir), sort, ascending)
    out = Path(out) if out is not None else sweep_dir / "summary"
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out.with_name(out.name + ".csv"), out.with_name(out.name + ".md")
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    markdown = to_markdown(columns, rows, common, str(sweep_dir))
    md_path.write_text(markdown)
    return csv_path, md_path, markdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lipsync-sweep-gather", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="a Hydra multirun directory, or any directory holding runs")
    parser.add_argument("--out", help="output path without extension (default: SWEEP_DIR/summary)")
    parser.add_argument("--sort", metavar="METRIC", help="sort by this metric, best (highest) first")
    parser.add_argument("--ascending", action="store_true", help="with --sort: lowest first (losses)")
    args = parser.parse_args(argv)
    try:
        csv_path, md_path, markdown = gather(args.sweep_dir, args.out, args.sort, args.ascending)
    except GatherError as err:
        sys.exit(f"lipsync-sweep-gather: {err}")
    print(markdown)
    print(f"table: {csv_path}\n       {md_path}")


if __name__ == "__main__":
    main()
