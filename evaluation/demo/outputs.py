"""What the demo leaves for people to look at: plots, the side-by-side video, summary.md and the table.

Training curves come from each run's CSV logger file (``csv/metrics.csv``,
written next to the wandb offline run), so they are drawn without a wandb
account or network.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

PANEL_HEIGHT = 256


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics_csv(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lightning CSVLogger file -> {metric: (steps, values)} (rows without a value for a metric skipped)."""
    series: dict[str, tuple[list, list]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            step = row.get("step")
            for key, value in row.items():
                if key in ("step", "epoch") or not value or not step:
                    continue
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(float(step)))
                values.append(float(value))
    return {k: (np.array(s), np.array(v)) for k, (s, v) in series.items()}


def plot_training_curves(runs: dict[str, Path], out: Path) -> Path:
    """One row per training run: its train/* losses on the left, its val/* metrics on the right."""
    plt = _plt()
    fig, axes = plt.subplots(len(runs), 2, figsize=(12, 3.4 * len(runs)), squeeze=False)
    for row, (title, path) in enumerate(runs.items()):
        series = read_metrics_csv(path) if path.is_file() else {}
        for col, prefix in enumerate(("train/", "val/")):
            ax = axes[row, col]
            for name, (steps, values) in sorted(series.items()):
                if name.startswith(prefix):
                    ax.plot(steps, values, marker="." if len(steps) < 30 else None, label=name)
            ax.set(title=f"{title}: {prefix.rstrip('/')}", xlabel="step")
            if ax.lines:
                ax.legend(fontsize=7)
            else:
                ax.text(0.5, 0.5, f"no {prefix}* metrics in {path.name}", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_viseme_confidence(per_viseme: dict[str, dict[str, dict]], out: Path) -> Path:
    """Grouped bars: sync confidence per Arabic viseme class, one bar per scored group (ground truth, generated)."""
    plt = _plt()
    names = sorted({v for group in per_viseme.values() for v in group})
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(names) + 2), 4))
    width = 0.8 / max(1, len(per_viseme))
    for i, (group, table) in enumerate(per_viseme.items()):
        x = np.arange(len(names)) + i * width
        ax.bar(x, [table.get(n, {}).get("lse_c", np.nan) for n in names], width, label=group)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=45, ha="right", fontsize=8)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set(ylabel="confidence (median - d at best offset)", title="per-viseme sync confidence, the independent judge")
    if per_viseme:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def side_by_side(videos: list[str], labels: list[str], out: Path) -> Path:
    """Videos (same fps) -> one mp4 with them next to each other, labelled, audio of the second one."""
    from data_prep.media import load_audio, read_frames, write_video

    clips = [read_frames(v) for v in videos]
    n = min(len(c) for c in clips)
    widths = [int(round(c.shape[2] * PANEL_HEIGHT / c.shape[1] / 2)) * 2 for c in clips]

    def rows():
        for t in range(n):
            row = []
            for clip, width, label in zip(clips, widths, labels):
                frame = cv2.resize(clip[t], (width, PANEL_HEIGHT), interpolation=cv2.INTER_AREA)
                cv2.putText(frame, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
                row.append(frame)
            yield np.concatenate(row, axis=1)

    return write_video(out, rows(), sum(widths), PANEL_HEIGHT, load_audio(videos[1]))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def summary_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """(video, LSE-C, LSE-D, offset, LSE-C and offset vs the other audio) rows of the judge's scores."""
    order = ["generated_speech", "generated_text", "ground_truth", "source_unsynced"]
    videos = results.get("videos", {})
    return [(name, _fmt(v.get("lse_c")), _fmt(v.get("lse_d")), _fmt(v.get("offset")), _fmt(v.get("other_lse_c")),
             _fmt(v.get("other_offset"))) for name in order if (v := videos.get(name))]


def summary_table(results: dict[str, Any]) -> str:
    """The table the demo prints at the end (plain text, fixed columns)."""
    head = ("video", "LSE-C", "LSE-D", "offset", "C other", "off. other")
    lines = [f"{head[0]:<18}" + "".join(f"{h:>11}" for h in head[1:])]
    lines += [f"{row[0]:<18}" + "".join(f"{x:>11}" for x in row[1:]) for row in summary_rows(results)]
    lines.append(f"{'':-<73}")
    official = str(results.get("fid_inception", "")).startswith("official")
    lines.append(f"lse_c {_fmt(results.get('lse_c'))}   lse_d {_fmt(results.get('lse_d'))}   "
                 f"fid {_fmt(results.get('fid'))}" + ("" if official else " (random-init Inception)"))
    for name, row in (results.get("fid_rows") or {}).items():
        lines.append(f"  FID {name:<26}{_fmt(row['fid']):>10}  ({row['frames'][0]} vs {row['frames'][1]} frames)")
    margin = results.get("sync_margin")
    if margin:
        lines.append(f"sync margin (judged vs driving - vs other audio, {len(margin['generations'])} generations): "
                     f"{_fmt(margin['margin'])}; in sync (|offset| <= 1) {_fmt(margin['in_sync'])}, "
                     f"better with the driving audio {_fmt(margin['wins'])}")
    v2 = results.get("syncnet_v2")
    if v2:
        lines.append(f"syncnet_v2 (published protocol): lse_c {_fmt(v2['lse_c'])}   lse_d {_fmt(v2['lse_d'])}")
    return "\n".join(lines)


def acceptance_lines(acceptance: dict[str, Any] | None) -> list[str]:
    """The demo's lip-sync checks (``results.json`` ``acceptance``) as markdown lines."""
    if not acceptance:
        return ["Lip-sync checks: not computed (score.sync_margin_clips=0)."]
    verdict = "all passed" if acceptance["passed"] else "NOT all passed: this model does not lip-sync convincingly"
    return [f"Lip-sync checks ({verdict}):", ""] + [
        f"- {name}: {_fmt(c['value'])} (bound {c['bound']}) {'passed' if c['passed'] else 'FAILED'}"
        for name, c in acceptance["checks"].items()]


def write_summary(results: dict[str, Any], generated: dict[str, Any], out: Path) -> Path:
    """summary.md: what was generated from what, the table, and where everything is."""
    held = results.get("held_out", {})
    text = [
        "# lipsync-demo summary", "",
        f"Held-out speaker `{held.get('speaker')}` (in no training split): the face of `{held.get('face_source')}` "
        f"lip-synced to the speech of `{held.get('speech_source')}` ({held.get('speech_text')}) and to the text "
        f"\"{held.get('text')}\" spoken by espeak-ng.", "",
        "```", summary_table(results), "```", "",
        *acceptance_lines(results.get("acceptance")), "",
        f"- LSE judge: {results['judge']['kind']} on {results['judge'].get('frames')} frames "
        f"({results['judge']['distance']} distance), "
        f"{results['judge']['ckpt']}: trained separately from the UNet's loss expert (another architecture and "
        "seed) and never used as a loss. Each video is scored against the audio that drove it (LSE-C, LSE-D, "
        "offset) and against the demo's other audio (C other, off. other): a video in sync is confident at an "
        "offset near 0 with its own audio and not with the other.",
        f"- The UNet's loss expert ({results['training_expert']['kind']} on "
        f"{results['training_expert'].get('frames')} frames) on the same videos, for contrast: "
        + ", ".join(f"{n} {_fmt(r['lse_c'])} (offset {r['offset']})"
                    for n, r in results["training_expert"]["videos"].items()),
        f"- FID Inception: {results.get('fid_inception')}",
        f"- FID reference: {results.get('fid_reference')}; controls: the unsynced source (the same face with its "
        "own mouth) and the test clips' two halves against each other (what sampling alone gives). "
        f"{results.get('fid_note', '')}.",
        f"- frames without a face (passed through): {generated.get('frames_without_face')}",
        "- videos: `videos/generated/`, `videos/reference/`, `videos/controls/`, `videos/side_by_side.mp4`",
        "- plots: `plots/training_curves.png`, `plots/viseme_sync_confidence.png`",
        "- training runs (resolved config, checkpoints, csv + wandb offline logs): `syncnet/`, `judge/`, `unet/`",
        "- dataset: `data/` (generated videos, manifest), `prep/` (shards, index.json, dropped.jsonl)", "",
    ]
    out.write_text("\n".join(text), encoding="utf-8")
    return out
