"""``lipsync-eval``: score a folder of generated videos (LSE-C / LSE-D, FID, per-viseme LSE-C, reconstruction).

    lipsync-eval videos=out/gen syncnet_weights=weights/syncnet_v2.model crop=none metrics=[lse] out_dir=out/eval
    lipsync-eval videos=out/gen syncnet_weights=W reference=data/ref inception_weights=weights/pt_inception-2015-12-05-6726825d.pth metrics=[lse,fid] out_dir=D
    lipsync-eval videos=out/gen syncnet_weights=W visemes=data/shard_files metrics=[lse,viseme_lse] out_dir=D
    lipsync-eval videos=out/gen reference=data/ground_truth metrics=[recon] out_dir=D

``recon`` (reconstruction runs: ``reference/<name>`` is the ground truth of
``videos/<name>``) adds mouth ``ssim``, ``psnr`` and lip landmark distance ``lmd``
(definitions in :mod:`evaluation.reconstruction`).

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
METRICS = ("lse", "fid", "viseme_lse", "recon")


def check_config(cfg: dict) -> None:
    """Turn a bad config into one clear error before any compute."""
    unknown = [m for m in cfg["metrics"] if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown {unknown}; expected a list of {list(METRICS)}")
    if cfg["crop"] not in ("none", "track"):
        raise ValueError(f"crop={cfg['crop']!r}: expected 'none' or 'track'")
    needs = {"lse": ["syncnet_weights"], "viseme_lse": ["syncnet_weights", "visemes"],
             "fid": ["reference", "inception_weights"], "recon": ["reference"]}
    for metric in cfg["metrics"]:
        for key in needs[metric]:
            if not cfg.get(key):
                raise ValueError(f"metrics contains {metric!r} but {key} is not set")
            if not Path(cfg[key]).expanduser().exists():
                raise FileNotFoundError(f"{key}: {cfg[key]} does not exist")
    if not Path(cfg["videos"]).is_dir():
        raise FileNotFoundError(f"videos: {cfg['videos']} is not a folder")


def protocol(cfg: dict) -> dict:
    """The settings that define the numbers, stored next to them."""
    out = {"crop": cfg["crop"], "metrics": list(cfg["metrics"]), "syncnet_weights": cfg["syncnet_weights"],
           "lse": {"vshift": cfg["lse"]["vshift"], "jpeg_roundtrip": cfg["lse"]["jpeg_roundtrip"],
                   "flatten_lip": cfg["lse"]["flatten_lip"], "fps": 25, "sample_rate": 16000,
                   "mfcc": "python_speech_features.mfcc(int16, 16000) defaults", "image_size": 224}}
    if cfg["crop"] == "track":
        out["track"] = dict(cfg["track"])
    if "fid" in cfg["metrics"]:
        out["fid"] = {"inception_weights": cfg["inception_weights"], "reference": cfg["reference"],
                      "every_nth_frame": cfg["fid"]["every_nth_frame"], "resize": "bilinear 299, no antialias"}
    if "recon" in cfg["metrics"]:
        from evaluation.reconstruction import LIP_INDICES, PSNR_CAP

        out["recon"] = {**cfg["recon"], "reference": cfg["reference"], "psnr_cap": PSNR_CAP,
                        "lip_indices": LIP_INDICES.tolist(), "definitions": "evaluation/reconstruction.py"}
    return out


def run_evaluation(cfg: dict) -> dict:
    """The whole evaluation from a plain config dict -> the results.json payload (also written)."""
    from evaluation import media, report
    from evaluation.face_track import TrackConfig
    from evaluation.lse_runner import score_videos, summarise

    check_config(cfg)
    out_dir = Path(cfg["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = media.list_videos(cfg["videos"])
    if not videos:
        raise FileNotFoundError(f"videos: no video files in {cfg['videos']} (suffixes {media.VIDEO_SUFFIXES})")
    track_cfg = TrackConfig(**cfg["track"])
    payload: dict = {"protocol": protocol(cfg), "n_videos": len(videos)}
    results, failed = {}, []
    if {"lse", "viseme_lse"} & set(cfg["metrics"]):
        from evaluation.fast_syncnet import SyncNetRunner
        from evaluation.syncnet_loader import load_syncnet

        model = SyncNetRunner(load_syncnet(cfg["syncnet_weights"], cfg["device"]), cfg["lse"]["flatten_lip"])
        lse = cfg["lse"]
        results, failed = score_videos(model, videos, cfg["crop"], lse["batch_size"], lse["workers"],
                                       lse["prefetch"], lse["jpeg_roundtrip"], track_cfg, cfg["device"],
                                       lse["vshift"], cfg["progress"])
        payload.update(summarise(results))
    per_viseme = None
    if "viseme_lse" in cfg["metrics"]:
        per_viseme = report.per_viseme_confidence(results, cfg["visemes"])
        payload["per_viseme_lse_c"] = per_viseme
    if "fid" in cfg["metrics"]:
        from evaluation.fid import fid_between
        from evaluation.fid_inception import load_fid_inception

        read = _fid_reader(cfg["crop"], track_cfg)
        inception = load_fid_inception(cfg["inception_weights"], cfg["device"])
        payload.update(fid_between(inception, videos, media.list_videos(cfg["reference"]), read,
                                   cfg["fid"]["batch_size"], cfg["fid"]["every_nth_frame"], cfg["device"]))
    if "recon" in cfg["metrics"]:
        from evaluation.reconstruction import ReconConfig, score_reconstruction

        recon, recon_failed = score_reconstruction(videos, cfg["reference"], ReconConfig(**cfg["recon"]),
                                                   cfg["progress"])
        payload.update({k: recon[k] for k in ("ssim", "psnr", "lmd")})
        payload["videos"] = _merge_rows(payload.get("videos", []), recon["videos"], videos)
        failed = failed + recon_failed
    payload["failed"] = failed
    payload.setdefault("videos", [])
    report.write_json(out_dir / "results.json", payload)
    rows = [{**row, **({"n_windows": results[row["video"]].n_windows, "first_frame": results[row["video"]].first_frame}
                       if row["video"] in results else {})} for row in payload["videos"]]
    report.write_csv(out_dir / "videos.csv", rows)
    if results:
        report.write_plot(out_dir / "report.png", results, per_viseme)
    return payload


def _merge_rows(rows: list[dict], extra: list[dict], videos: list[Path]) -> list[dict]:
    """Per-video rows of two metric families -> one row per video (input order), keys of both."""
    merged = {row["video"]: dict(row) for row in rows}
    for row in extra:
        merged.setdefault(row["video"], {}).update(row)
    order = {p.name: i for i, p in enumerate(videos)}
    return sorted(merged.values(), key=lambda row: order[row["video"]])


def _fid_reader(crop: str, track_cfg):
    """FID frames of one video: whole frames (crop=none) or the tracked face crops; None when unreadable."""
    from evaluation import media
    from evaluation.face_track import track_and_crop

    def read(path: Path):
        try:
            frames = media.read_frames(path, None, jpeg=False)
            return track_and_crop(frames, track_cfg)[0] if crop == "track" else frames
        except (media.MediaError, ValueError) as exc:
            log.warning("FID: %s left out: %s", path.name, exc)
            return None
    return read


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        payload = run_evaluation(data)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        sys.exit(f"lipsync-eval: {exc}")
    means = {k: payload.get(k) for k in ("lse_c", "lse_d", "fid", "ssim", "psnr", "lmd") if payload.get(k) is not None}
    print(f"lipsync-eval: {len(payload['videos'])} scored, {len(payload['failed'])} failed; " +
          ", ".join(f"{k}={v:.4f}" for k, v in means.items()))
    print(f"results: {Path(data['out_dir']) / 'results.json'}")


if __name__ == "__main__":
    main()
