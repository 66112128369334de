"""The demo's score stage: every number of ``results.json``.

- **LSE-C / LSE-D with this project's expert** (:mod:`evaluation.metrics.expert_lse`)
  for the two generated videos (their mean is the top-level ``lse_c`` /
  ``lse_d``) and for two controls that frame them: the ground truth (B's own
  face and audio, the ceiling) and the unsynced source (A's face, untouched,
  under B's audio, the floor).
- **FID** of the generated speech video's aligned faces against the ground
  truth's (:mod:`evaluation.metrics.fid`, pytorch-fid's statistics and Fréchet
  distance). With ``score.inception_weights`` it is the published FID
  Inception; without, a seeded random-initialised Inception of the same
  architecture, and ``fid_inception`` says so: a number for comparing runs of
  this demo, not a published FID.
- **Per-viseme confidence**: phones of B's speech and of the text are aligned
  by the dataset pipeline's aligner, and each LSE window is attributed to its
  centre frame's viseme (:func:`evaluation.metrics.viseme.per_viseme_confidence`).
- **Sync margin** (:mod:`evaluation.metrics.sync_margin`): on test-split
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

from data_prep.schema import SAMPLES_PER_FRAME

log = logging.getLogger(__name__)
def score_demo(cfg: dict[str, Any], generated: dict[str, Any], syncnet_ckpt: Path, unet_ckpt: Path,
               prep_dir: Path, score_dir: Path) -> dict[str, Any]:
    """The generate stage's outputs -> the results.json payload."""
    from evaluation.metrics.expert_lse import aligned_faces, expert_lse
    from evaluation.fid_inception import fid_inception_for
    from evaluation.metrics.fid import fid_of_faces
    from evaluation.metrics.viseme import per_viseme_confidence, viseme_track
    from data_prep.media import load_audio, read_frames
    from lipsync_train.networks.sync_scorer import load_sync_scorer

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

    inception, inception_kind = fid_inception_for(c["inception_weights"], faces["ground_truth"])
    fid = fid_of_faces(inception, faces["generated_speech"], faces["ground_truth"])
    log.info("FID (aligned faces, %d vs %d frames): %.2f [%s]", len(faces["generated_speech"]),
             len(faces["ground_truth"]), fid, inception_kind.split(" (")[0])

    margin = None
    if c["sync_margin_clips"] > 0:
        from lipsync_train.inference.pipeline import LipSyncPipeline
        from evaluation.metrics.sync_margin import split_clips, sync_margin

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
                   "note": "LSE with this project's expert on aligned faces (evaluation/metrics/expert_lse.py); "
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
