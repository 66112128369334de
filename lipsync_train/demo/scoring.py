"""The demo's score stage: every number of ``results.json``.

- **LSE-C / LSE-D with this project's expert** (:mod:`evaluation.expert_lse`)
  for the two generated videos (their mean is the top-level ``lse_c`` /
  ``lse_d``) and for two controls that frame them: the ground truth (B's own
  face and audio, the ceiling) and the unsynced source (A's face, untouched,
  under B's audio, the floor).
- **FID** of the generated speech video's aligned faces against the ground
  truth's (:mod:`evaluation.fid`, pytorch-fid's statistics and Fréchet
  distance). With ``score.inception_weights`` it is the published FID
  Inception; without, a seeded random-initialised Inception of the same
  architecture, and ``fid_inception`` says so: a number for comparing runs of
  this demo, not a published FID.
- **Per-viseme confidence**: phones of B's speech and of the text are aligned
  by the dataset pipeline's aligner, and each LSE window is attributed to its
  centre frame's viseme (:func:`evaluation.report.per_viseme_confidence`).
- **Sync margin** (:mod:`lipsync_train.inference.sync_check`): on test-split
  clips, expert confidence of mouths generated from their own audio minus
  from another clip's audio; > 0 means the UNet listens.
- **syncnet_v2** (published protocol via ``lipsync-eval``'s
  :func:`~evaluation.cli.run_evaluation`, ``crop=track``) when
  ``score.syncnet_v2_weights`` is given.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_prep.schema import SAMPLES_PER_FRAME

log = logging.getLogger(__name__)
RANDOM_INCEPTION = ("random-init FIDInceptionV3 (seed 0, BatchNorm statistics calibrated on the reference faces): "
                    "comparable between runs of this demo only, not a published FID; "
                    "set score.inception_weights=pt_inception-2015-12-05-6726825d.pth")


def viseme_track(audio: np.ndarray, text: str, n_frames: int) -> np.ndarray:
    """(T,) viseme id per frame of ``audio`` (-1 silence), aligned by the dataset pipeline's aligner."""
    from data_prep.phonemes import make_aligner
    from data_prep.schema import SAMPLE_RATE

    aligner = make_aligner("builtin", min_confidence=0.0)
    return aligner.align(audio, SAMPLE_RATE, text).frame_labels(n_frames)[1]


def fid_model(weights: str | None, calibration_faces: np.ndarray):
    """-> (Inception for FID, description). The official weights when given.

    Without them: the same architecture with seeded random weights. Its
    BatchNorm layers keep their default statistics (mean 0, variance 1), under
    which activations fade through ~90 layers and every image maps to nearly the
    same vector (FID ~0 whatever the images); so the statistics are first
    measured on the reference faces, which keeps random features informative.
    """
    from evaluation.fid_inception import FIDInceptionV3, load_fid_inception

    if weights:
        return load_fid_inception(weights), f"official ({weights})"
    torch.manual_seed(0)
    model = FIDInceptionV3()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over all calibration batches
    model.train()
    with torch.no_grad():
        for i in range(0, len(calibration_faces), 50):
            batch = torch.from_numpy(np.ascontiguousarray(calibration_faces[i:i + 50]))  # (B, S, S, 3) RGB
            model(batch.permute(0, 3, 1, 2).float() / 255.0)
    return model.eval(), RANDOM_INCEPTION


def fid_of_faces(model: torch.nn.Module, generated: np.ndarray, reference: np.ndarray) -> float:
    """FID between two sets of aligned RGB faces (N, S, S, 3) uint8, as pytorch-fid computes it."""
    from evaluation.fid import activation_statistics, frame_features, frechet_distance

    def batches(faces: np.ndarray):
        for i in range(0, len(faces), 50):
            yield np.ascontiguousarray(faces[i:i + 50, :, :, ::-1])  # frame_features takes BGR

    mu1, s1 = activation_statistics(frame_features(model, batches(generated)))
    mu2, s2 = activation_statistics(frame_features(model, batches(reference)))
    return float(frechet_distance(mu1, s1, mu2, s2))


def score_demo(cfg: dict[str, Any], generated: dict[str, Any], syncnet_ckpt: Path, unet_ckpt: Path,
               prep_dir: Path, score_dir: Path) -> dict[str, Any]:
    """The generate stage's outputs -> the results.json payload."""
    from evaluation.expert_lse import aligned_faces, expert_lse
    from evaluation.report import per_viseme_confidence
    from lipsync_train.inference.media import load_audio, read_frames
    from lipsync_train.sync_scoring import load_sync_scorer

    c = cfg["score"]
    score_dir.mkdir(parents=True, exist_ok=True)
    scorer = load_sync_scorer(syncnet_ckpt)
    videos, faces, audios, lse, rows = generated["videos"], {}, {}, {}, {}
    for name, path in videos.items():
        # the generated text video is scored against the exact espeak speech, the others against their own audio
        audio = np.load(generated["text_audio"]) if name == "generated_text" else load_audio(path)
        aligned = aligned_faces(read_frames(path))
        faces[name], audios[name] = aligned.frames, audio
        lse[name] = expert_lse(scorer, aligned.frames, audio[:len(aligned.frames) * SAMPLES_PER_FRAME])
        rows[name] = {"video": path, "lse_c": lse[name].lse_c, "lse_d": lse[name].lse_d, "offset": lse[name].offset,
                      "frames": len(aligned.frames), "frames_without_face": aligned.missing}
        log.info("%-16s LSE-C %.3f  LSE-D %.3f  offset %+d", name, lse[name].lse_c, lse[name].lse_d,
                 lse[name].offset)

    # per-viseme confidence: B's speech drives ground truth and generated_speech; the text its own video
    vis_dir = score_dir / "visemes"
    vis_dir.mkdir(exist_ok=True)
    np.save(vis_dir / "speech.viseme_ids.npy",
            viseme_track(audios["ground_truth"], generated["speech_text"], len(faces["ground_truth"])))
    np.save(vis_dir / "text.viseme_ids.npy",
            viseme_track(audios["generated_text"], generated["text"], len(faces["generated_text"])))
    per_viseme = {"ground_truth": per_viseme_confidence({"speech": lse["ground_truth"]}, vis_dir),
                  "generated": per_viseme_confidence({"speech": lse["generated_speech"],
                                                      "text": lse["generated_text"]}, vis_dir)}

    inception, inception_kind = fid_model(c["inception_weights"], faces["ground_truth"])
    fid = fid_of_faces(inception, faces["generated_speech"], faces["ground_truth"])
    log.info("FID (aligned faces, %d vs %d frames): %.2f [%s]", len(faces["generated_speech"]),
             len(faces["ground_truth"]), fid, inception_kind.split(" (")[0])

    margin = None
    if c["sync_margin_clips"] > 0:
        from lipsync_train.inference.pipeline import LipSyncPipeline
        from lipsync_train.inference.sync_check import split_clips, sync_margin

        g = cfg["generate"]
        margin = sync_margin(LipSyncPipeline.from_checkpoint(unet_ckpt), scorer,
                             split_clips(str(prep_dir), "test", c["sync_margin_clips"], c["sync_margin_frames"]),
                             g["num_steps"], g["guidance_scale"], cfg["seed"])
        log.info("sync margin over %d test clips: %.3f", len(margin["true"]), margin["margin"])

    generated_names = ("generated_speech", "generated_text")
    results = {
        "lse_c": float(np.mean([lse[n].lse_c for n in generated_names])),
        "lse_d": float(np.mean([lse[n].lse_d for n in generated_names])),
        "fid": fid,
        "scorer": {"syncnet_ckpt": str(syncnet_ckpt), "kind": type(scorer.net).__name__,
                   "distance": getattr(scorer.net, "distance_kind", "euclidean"),
                   "note": "LSE with this project's expert on aligned faces (evaluation/expert_lse.py); "
                           "lse_c / lse_d are the means over the generated videos"},
        "fid_inception": inception_kind,
        "fid_frames": {"generated": len(faces["generated_speech"]), "reference": len(faces["ground_truth"])},
        "videos": rows,
        "per_viseme_lse_c": per_viseme,
        "sync_margin": margin,
        "held_out": {k: generated[k] for k in ("speaker", "face_source", "speech_source", "speech_text", "text")},
        "syncnet_v2": official_lse(c, videos, score_dir) if c["syncnet_v2_weights"] else None,
    }
    return results


def official_lse(c: dict[str, Any], videos: dict[str, str], score_dir: Path) -> dict[str, Any]:
    """LSE-C / LSE-D of the generated videos with official syncnet_v2 weights, through lipsync-eval."""
    from omegaconf import OmegaConf

    from data_prep import CONF_DIR
    from evaluation.cli import run_evaluation

    base = OmegaConf.load(Path(CONF_DIR) / "evaluate.yaml")
    base.pop("hydra")
    cfg = OmegaConf.merge(base, {"videos": str(Path(videos["generated_speech"]).parent),
                                 "out_dir": str(score_dir / "syncnet_v2"), "metrics": ["lse"], "crop": "track",
                                 "syncnet_weights": c["syncnet_v2_weights"]}, c["eval_overrides"])
    payload = run_evaluation(OmegaConf.to_container(cfg, resolve=True))
    return {"lse_c": payload.get("lse_c"), "lse_d": payload.get("lse_d"), "videos": payload["videos"],
            "failed": payload["failed"], "results": str(score_dir / "syncnet_v2" / "results.json")}
