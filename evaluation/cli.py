"""``lipsync-eval``: score a folder of generated videos, or a model, with any metric of ``evaluation.registry``.

    lipsync-eval videos=out/gen syncnet_weights=weights/syncnet_v2.model crop=none metrics=[lse] out_dir=out/eval
    lipsync-eval videos=out/gen syncnet_weights=W reference=data/ref inception_weights=weights/pt_inception-2015-12-05-6726825d.pth metrics=[lse,fid] out_dir=D
    lipsync-eval videos=out/gen syncnet_weights=W visemes=data/shard_files metrics=[lse,viseme_lse] out_dir=D
    lipsync-eval videos=out/gen reference=data/ground_truth metrics=[recon] out_dir=D
    lipsync-eval videos=out/gen expert_ckpt=runs/syncnet/checkpoints/last.ckpt metrics=[expert_lse] out_dir=D
    lipsync-eval metrics=[sync_margin] shards=data/arabic unet_ckpt=U.ckpt expert_ckpt=E.ckpt out_dir=D

``recon`` (reconstruction runs: ``reference/<name>`` is the ground truth of
``videos/<name>``) adds mouth ``ssim``, ``psnr`` and lip landmark distance ``lmd``
(definitions in :mod:`evaluation.metrics.reconstruction`).

Writes ``out_dir/results.json`` (means, every protocol setting, a ``videos`` row
per scored video and a ``failed`` row per unscorable one), ``out_dir/videos.csv``
and ``out_dir/report.png``; Hydra keeps the resolved config in ``out_dir/.hydra``.
Every path and metric name is checked before any network runs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from data_prep import CONF_DIR

log = logging.getLogger("lipsync-eval")


def check_config(cfg: dict) -> list:
    """Turn a bad config into one clear error before any compute -> the metrics in the order they run."""
    from evaluation.registry import load_metrics, run_order

    unknown = [m for m in cfg["metrics"] if m not in load_metrics()]
    if unknown:
        raise ValueError(f"metrics: unknown {unknown}; expected a list of {sorted(load_metrics())}")
    metrics = run_order(list(cfg["metrics"]))
    if cfg["crop"] not in ("none", "track"):
        raise ValueError(f"crop={cfg['crop']!r}: expected 'none' or 'track'")
    for metric in metrics:
        for key in metric.needs:
            if not cfg.get(key):
                raise ValueError(f"metrics contains {metric.name!r} but {key} is not set")
            is_url = str(cfg[key]).startswith(("http://", "https://"))  # fetched once by its loader (pretrained.py)
            if not is_url and not Path(cfg[key]).expanduser().exists():
                raise FileNotFoundError(f"{key}: {cfg[key]} does not exist")
    if any(m.reads_videos for m in metrics) and not (cfg.get("videos") and Path(cfg["videos"]).is_dir()):
        raise FileNotFoundError(f"videos: {cfg.get('videos')} is not a folder")
    return metrics


def protocol(cfg: dict, metrics: list) -> dict:
    """The settings that define the numbers, stored next to them: the shared ones and each metric's own."""
    out = {"crop": cfg["crop"], "metrics": list(cfg["metrics"]), "syncnet_weights": cfg["syncnet_weights"]}
    if cfg["crop"] == "track":
        out["track"] = dict(cfg["track"])
    for metric in metrics:
        if metric.protocol is not None:
            out.update(metric.protocol(cfg))
    return out


def run_evaluation(cfg: dict) -> dict:
    """The whole evaluation from a plain config dict -> the results.json payload (also written)."""
    from evaluation import media, report
    from evaluation.registry import EvalRun

    metrics = check_config(cfg)
    out_dir = Path(cfg["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = []
    if any(m.reads_videos for m in metrics):
        videos = media.list_videos(cfg["videos"])
        if not videos:
            raise FileNotFoundError(f"videos: no video files in {cfg['videos']} (suffixes {media.VIDEO_SUFFIXES})")
    run = EvalRun(cfg, videos, {"protocol": protocol(cfg, metrics), "n_videos": len(videos)})
    for metric in metrics:
        log.info("metric %s: %s", metric.name, metric.description)
        metric.score(run)
    order = {p.name: i for i, p in enumerate(videos)}
    rows = sorted(run.rows.values(), key=lambda row: order.get(row["video"], len(order)))
    run.payload["videos"] = [{k: v for k, v in row.items() if k not in ("n_windows", "first_frame")} for row in rows]
    run.payload["failed"] = run.failed
    report.write_json(out_dir / "results.json", run.payload)
    report.write_csv(out_dir / "videos.csv", rows)
    if run.lse_results:
        report.write_plot(out_dir / "report.png", run.lse_results, run.payload.get("per_viseme_lse_c"))
    return run.payload


def headline(payload: dict, metrics: list) -> dict:
    """The top-level numbers of the chosen metrics that were computed."""
    return {k: payload[k] for m in metrics for k in m.means if payload.get(k) is not None}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        payload = run_evaluation(data)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        sys.exit(f"lipsync-eval: {exc}")
    from evaluation.registry import run_order

    means = headline(payload, run_order(list(data["metrics"])))
    print(f"lipsync-eval: {len(payload['videos'])} scored, {len(payload['failed'])} failed; " +
          ", ".join(f"{k}={v:.4f}" for k, v in means.items()))
    print(f"results: {Path(data['out_dir']) / 'results.json'}")


if __name__ == "__main__":
    main()
