"""The evaluation report: results.json, a CSV row per video, a PNG plot, and per-viseme LSE-C.

Per-viseme LSE-C answers "which sounds does a model get wrong?" for Arabic.
Each LSE window ``i`` (frames ``i..i+4``) gets the reference's per-frame
confidence at the clip's best offset, ``median(mdist) - d[i, argmin(mdist)]``
(syncnet_python's ``fconf``), and is attributed to the viseme of its centre
frame ``i + 2`` from the shard's ``viseme_ids.npy`` (one int16 per frame, -1
silence). Windows are pooled over videos and averaged per class. The viseme
file of ``clip.mp4`` is ``<visemes dir>/clip.viseme_ids.npy``, the name an
extracted shard sample has when the generated video is named by its key.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
from scipy.signal import medfilt

from evaluation.lse import LSEResult

log = logging.getLogger(__name__)
SILENCE_NAME = "silence"


def viseme_names() -> list[str]:
    from data_prep.arabic.visemes import VISEME_CLASSES

    return list(VISEME_CLASSES)


def per_viseme_confidence(results: dict[str, LSEResult], visemes_dir: str | Path,
                          names: list[str] | None = None) -> dict[str, dict]:
    """-> {viseme name: {"lse_c": mean window confidence, "n_windows": count}} over all videos with a viseme file."""
    names = viseme_names() if names is None else names
    pooled: dict[int, list[np.ndarray]] = {}
    for video, res in results.items():
        path = Path(visemes_dir) / f"{Path(video).stem}.viseme_ids.npy"
        if not path.is_file():
            log.warning("no viseme ids for %s (expected %s); left out of per-viseme LSE-C", video, path)
            continue
        ids = np.load(path, allow_pickle=False).astype(np.int64)  # (T,)
        centre = res.first_frame + np.arange(res.n_windows) + 2  # centre frame of each window
        if centre[-1] >= len(ids):
            raise ValueError(f"{path}: {len(ids)} viseme ids, but {video} has windows up to frame {centre[-1]}")
        conf = res.window_confidence()
        for vid in np.unique(ids[centre]):
            pooled.setdefault(int(vid), []).append(conf[ids[centre] == vid])
    out = {}
    for vid in sorted(pooled):
        values = np.concatenate(pooled[vid])
        name = SILENCE_NAME if vid < 0 else (names[vid] if vid < len(names) else f"viseme_{vid}")
        out[name] = {"lse_c": float(values.mean()), "n_windows": int(len(values))}
    return out


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
