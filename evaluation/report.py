"""The evaluation report: results.json, a CSV row per video, a PNG plot (per-viseme LSE-C comes from
``evaluation.metrics.viseme``)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
from scipy.signal import medfilt

from evaluation.metrics.lse import LSEResult

log = logging.getLogger(__name__)


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_csv(path: Path, rows: list[dict]) -> None:
    """One row per scored video; columns are the union of the rows' keys, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_plot(path: Path, results: dict[str, LSEResult], per_viseme: dict[str, dict] | None,
               max_curves: int = 8) -> None:
    """PNG: per-viseme LSE-C bars (when known) and the smoothed per-frame confidence of the first videos."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if per_viseme else 1
    fig, axes = plt.subplots(panels, 1, figsize=(10, 3.5 * panels), squeeze=False)
    ax = axes[0, 0]
    for name, res in list(results.items())[:max_curves]:
        conf = res.window_confidence()
        smooth = medfilt(conf, 9) if len(conf) >= 9 else conf
        ax.plot(res.first_frame + np.arange(len(conf)) + 2, smooth, label=name)
    ax.set(xlabel="frame (window centre)", ylabel="confidence", title="per-frame sync confidence (median filter 9)")
    if results:
        ax.legend(fontsize=7, loc="upper right")
    if per_viseme:
        ax = axes[1, 0]
        names = list(per_viseme)
        ax.bar(names, [per_viseme[n]["lse_c"] for n in names], color="tab:blue")
        ax.set(ylabel="LSE-C", title="LSE-C per viseme class")
        ax.tick_params(axis="x", rotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
