"""``lipsync-compare``: score several UNet checkpoints on the same held-out clips, into one table.

    lipsync-compare shards=data/arabic out_dir=runs/compare \\
        models='{latentsync_1.5: weights/latentsync-1.5/unet.ckpt, arabic_ft: runs/ls_unet_ar/checkpoints/last.ckpt}' \\
        syncnet_v2_weights=weights/syncnet_v2.model expert_ckpt=runs/ls_syncnet_ar/checkpoints/last.ckpt \\
        inception_weights=weights/pt_inception-2015-12-05-6726825d.pth

The before/after evaluation of fine-tuning: every model regenerates the mouths of the
same ``split`` clips of a ``lipsync-prep`` shard folder (aligned faces from the shards, the
clip's own audio), with references taken from another part of the clip (half its
length away, as training and a real dub do: never the frame being generated); the
ground truth is written beside them as the control row. Each folder of videos is then
scored through ``lipsync-eval``'s registry: the published LSE-C / LSE-D with
syncnet_v2 (``lse``, ``crop=none``: the aligned faces are the crops), LSE with the
Arabic expert (``expert_lse``) and FID against the ground truth (``fid``), each when
its weights are given. Writes ``out_dir/table.md``, ``out_dir/results.json`` and the
videos under ``out_dir/<name>/``.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from data_prep import CONF_DIR

log = logging.getLogger("lipsync-compare")
COLUMNS = [("lse_c", "LSE-C (syncnet_v2)"), ("lse_d", "LSE-D (syncnet_v2)"), ("expert_lse_c", "LSE-C (expert)"),
           ("expert_lse_d", "LSE-D (expert)"), ("fid", "FID")]


def shifted_references(frames: torch.Tensor) -> torch.Tensor:
    """(T, ...) -> the frames half the clip away (cyclic): references that never show the frame generated."""
    return torch.roll(frames, shifts=len(frames) // 2, dims=0)


def generate_clip(pipe, frames: np.ndarray, audio: np.ndarray, c: dict[str, Any]) -> np.ndarray:
    """Aligned frames (T, S0, S0, 3) + their audio -> (T, S, S, 3) uint8 with the mouth regenerated."""
    s = pipe.image_size
    small = np.stack([cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA) for f in frames])
    faces = torch.from_numpy(small).permute(0, 3, 1, 2).contiguous()  # (T, 3, S, S)
    tokens = pipe.audio_encoder.clip_features(audio, n_frames=len(frames))
    out = pipe.generate(faces, shifted_references(faces), tokens, c["num_steps"], c["guidance_scale"],
                        c["chunk_frames"], c["seed"])
    return out.permute(0, 2, 3, 1).numpy()


def write_clips(folder: Path, clips: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    from data_prep.media import write_video

    folder.mkdir(parents=True, exist_ok=True)
    for key, (frames, audio) in clips.items():
        write_video(folder / f"{key}.mp4", frames, frames.shape[2], frames.shape[1], audio)
    return folder


def score_folder(cfg: dict[str, Any], videos: Path, reference: Path, out_dir: Path) -> dict[str, Any]:
    """The registry's metrics whose weights are configured, on one folder of videos."""
    from evaluation.cli import run_evaluation

    base = OmegaConf.load(Path(CONF_DIR) / "evaluate.yaml")
    base.pop("hydra")
    metrics = [m for m, key in (("lse", "syncnet_v2_weights"), ("expert_lse", "expert_ckpt"),
                                ("fid", "inception_weights")) if cfg.get(key)]
    overrides = {"videos": str(videos), "out_dir": str(out_dir), "metrics": metrics, "crop": "none",
                 "syncnet_weights": cfg.get("syncnet_v2_weights"), "expert_ckpt": cfg.get("expert_ckpt"),
                 "inception_weights": cfg.get("inception_weights"), "reference": str(reference),
                 "device": cfg["device"], "progress": False}
    payload = run_evaluation(OmegaConf.to_container(OmegaConf.merge(base, overrides), resolve=True))
    return {key: payload.get(key) for key, _ in COLUMNS} | {"failed": len(payload["failed"])}


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    shown = [(k, title) for k, title in COLUMNS if any(r.get(k) is not None for r in rows.values())]
    lines = ["| model | " + " | ".join(t for _, t in shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for name, row in rows.items():
        cells = [f"{row[k]:.3f}" if row.get(k) is not None else "-" for k, _ in shown]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_comparison(cfg: dict[str, Any]) -> dict[str, Any]:
    from evaluation.metrics.sync_margin import split_clips
    from lipsync_train.inference.pipeline import LipSyncPipeline

    if not cfg.get("models"):
        raise ValueError("models: give {name: checkpoint, ...} of at least one UNet checkpoint")
    missing = [f"{n}: {p}" for n, p in cfg["models"].items() if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"models: no such checkpoint {missing}")
    if not any(cfg.get(k) for k in ("syncnet_v2_weights", "expert_ckpt", "inception_weights")):
        raise ValueError("give at least one of syncnet_v2_weights=, expert_ckpt=, inception_weights=")
    out_dir = Path(cfg["out_dir"])
    clips = split_clips(cfg["shards"], cfg["split"], cfg["max_clips"], cfg["max_frames"])
    keys = [f"clip{i:03d}" for i in range(len(clips))]
    truth = write_clips(out_dir / "ground_truth", dict(zip(keys, clips)))
    rows = {"ground_truth": score_folder(cfg, truth, truth, out_dir / "ground_truth" / "scores")}
    for name, ckpt in cfg["models"].items():
        pipe = LipSyncPipeline.from_checkpoint(ckpt, device=cfg["device"])
        generated = {key: (generate_clip(pipe, frames, audio, cfg["generate"]), audio)
                     for key, (frames, audio) in zip(keys, clips)}
        folder = write_clips(out_dir / name, generated)
        rows[name] = {**score_folder(cfg, folder, truth, out_dir / name / "scores"), "checkpoint": str(ckpt)}
        log.info("%s: %s", name, {k: rows[name].get(k) for k, _ in COLUMNS})
    table = markdown_table(rows)
    (out_dir / "table.md").write_text(table)
    results = {"rows": rows, "clips": len(clips), "split": cfg["split"], "shards": cfg["shards"],
               "generate": dict(cfg["generate"]), "references": "the clip's frames half its length away"}
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="compare")
def hydra_main(cfg: DictConfig) -> None:
    try:
        results = run_comparison(OmegaConf.to_container(cfg, resolve=True))
    except (FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f"lipsync-compare: {err}")
    print(markdown_table(results["rows"]))


def main() -> None:
    hydra_main()


if __name__ == "__main__":
    main()
