"""Every metric of the project by name: what it needs, the protocol that defines its numbers, and its scorer.

A metric is one module in ``evaluation/metrics/`` that calls :func:`register`
with a :class:`Metric`. ``lipsync-eval metrics=[...]`` looks names up here,
checks every input a chosen metric ``needs`` before any network runs, runs the
metrics it ``requires`` first (per-viseme LSE-C reads the LSE windows), and
stores each metric's ``protocol`` next to its numbers; the demo calls the same
scorers. Adding a metric is therefore one module: its code, its
:func:`register` call, and (for new settings) a block in ``conf/evaluate.yaml``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class EvalRun:
    """One evaluation: its config, the videos it scores, and what the metrics found so far."""

    cfg: dict[str, Any]
    videos: list[Path]
    payload: dict[str, Any] = field(default_factory=dict)  # results.json, filled by the metrics
    lse_results: dict[str, Any] = field(default_factory=dict)  # video name -> LSEResult (published protocol)
    failed: list[dict] = field(default_factory=list)  # {"video", "stage", "reason"} per unscorable video
    rows: dict[str, dict] = field(default_factory=dict)  # video name -> per-video numbers of every metric

    def add_rows(self, rows: list[dict]) -> None:
        for row in rows:
            self.rows.setdefault(row["video"], {}).update(row)


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    score: Callable[[EvalRun], None]  # adds its numbers to run.payload (and rows / failed)
    needs: tuple[str, ...] = ()  # config keys naming files or folders that must exist
    protocol: Callable[[dict], dict] | None = None  # the settings that define the numbers
    requires: tuple[str, ...] = ()  # metrics run before this one (their results are read)
    reads_videos: bool = True  # scores the files under ``videos=`` (False: scores a model on shards)
    means: tuple[str, ...] = ()  # top-level numbers lipsync-eval prints


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.name in METRICS and METRICS[metric.name] is not metric:
        raise ValueError(f"metric {metric.name!r} is registered twice")
    METRICS[metric.name] = metric
    return metric


def load_metrics() -> dict[str, Metric]:
    """Import every module of ``evaluation.metrics`` (each registers its metrics) -> the registry."""
    import evaluation.metrics as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    return METRICS


def get_metric(name: str) -> Metric:
    metrics = load_metrics()
    if name not in metrics:
        raise ValueError(f"metrics: unknown {name!r}; expected any of {sorted(metrics)}")
    return metrics[name]


def run_order(names: list[str]) -> list[Metric]:
    """The chosen metrics with the ones they require first, each once."""
    order: list[Metric] = []

    def visit(name: str) -> None:
        metric = get_metric(name)
        for dep in metric.requires:
            visit(dep)
        if metric not in order:
            order.append(metric)

    for name in names:
        visit(name)
    return order
