"""The demo's score stage: every number of ``results.json``.

- **LSE-C / LSE-D with the independent judge** (:mod:`evaluation.metrics.expert_lse`
  with the ``judge`` stage's SyncNet: another architecture and seed than the
  expert the UNet was trained against, and never a loss), for the two
  generated videos (their mean is the top-level ``lse_c`` / ``lse_d``) and for
  two controls that frame them: the ground truth (B's own face and audio, the
  ceiling) and the unsynced source (A's face, untouched, under B's audio, the
  floor). Every video is scored against the audio that drove it *and* against
  the other audio of the demo (B's speech <-> the text's speech), with the
  offset of each: in sync means confident at an offset near 0 with the driving
  audio and not with the other. The training expert's numbers are kept beside
  them (``training_expert``) for contrast only: the UNet was optimised to please it.
- **FID with its controls** (:mod:`evaluation.metrics.fid`, pytorch-fid's
  statistics and Fréchet distance) on aligned faces, against all frames of all
  test-split clips: the generated speech video, the unsynced source (the same
  face with its own mouth) and the test clips' two halves against each other
  (the floor that sampling alone gives). The Inception is pytorch-fid's
  (``score.inception_weights``, a URL cached on first use or a path); offline
  without it, a random-init Inception calibrated on training-split faces,
  named as such in ``fid_inception``.
- **Per-viseme confidence**: phones of B's speech and of the text are aligned
  by the dataset pipeline's aligner, and each judged LSE window is attributed to
  its centre frame's viseme (:func:`evaluation.metrics.viseme.per_viseme_confidence`).
- **Sync margin** (:mod:`evaluation.metrics.sync_margin`): test-split clips
  regenerated from their own and from another clip's audio (references half a
  clip away), each generation judged against its driving audio and the other.
- **syncnet_v2** (published protocol via ``lipsync-eval``'s
  :func:`~evaluation.cli.run_evaluation`, ``crop=track``) when
  ``score.syncnet_v2_weights`` is given.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data_prep.schema import SAMPLES_PER_FRAME

log = logging.getLogger(__name__)
# which audio drove each video, and which other audio it is also scored against
DRIVING = {"generated_speech": "speech", "generated_text": "text", "ground_truth": "speech",
           "source_unsynced": "speech"}
OTHER = {"speech": "text", "text": "speech"}
CALIBRATION_FRAMES = 300  # training-split faces that set a random Inception's BatchNorm statistics


def judge_rows(judge, expert, faces: dict[str, np.ndarray], audio: dict[str, np.ndarray]) -> tuple[dict, dict, dict]:
    """Aligned faces per video + the two audios -> (judge LSE vs driving audio, result rows, expert rows)."""
    from evaluation.metrics.expert_lse import expert_lse
    from evaluation.metrics.sync_margin import fit_audio

    lse, rows, expert_rows = {}, {}, {}
    for name, frames in faces.items():
        driving, other = DRIVING[name], OTHER[DRIVING[name]]
        n = len(frames) * SAMPLES_PER_FRAME
        lse[name] = expert_lse(judge, frames, fit_audio(audio[driving], n))
        vs_other = expert_lse(judge, frames, fit_audio(audio[other], n))
        ex = expert_lse(expert, frames, fit_audio(audio[driving], n))
        rows[name] = {"driving_audio": driving, "lse_c": lse[name].lse_c, "lse_d": lse[name].lse_d,
                      "offset": lse[name].offset, "other_audio": other, "other_lse_c": vs_other.lse_c,
                      "other_lse_d": vs_other.lse_d, "other_offset": vs_other.offset}
        expert_rows[name] = {"lse_c": ex.lse_c, "lse_d": ex.lse_d, "offset": ex.offset}
        log.info("%-16s judge: LSE-C %.3f offset %+d vs %s audio, LSE-C %.3f offset %+d vs %s audio", name,
                 lse[name].lse_c, lse[name].offset, driving, vs_other.lse_c, vs_other.offset, other)
    return lse, rows, expert_rows


def _faces_at(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[1] == size:
        return frames
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def _at_most(frames: np.ndarray, n: int | None) -> np.ndarray:
    """Evenly spaced ``n`` of ``frames`` (all when ``n`` is null or larger)."""
    if not n or len(frames) <= n:
        return frames
    return frames[np.linspace(0, len(frames) - 1, n).round().astype(int)]


def split_faces(prep_dir: Path, split: str, size: int, max_frames: int | None = None) -> list[np.ndarray]:
    """Every clip's aligned frames of a shard split, at ``size`` px (``max_frames`` in all, first clips first)."""
    from evaluation.metrics.sync_margin import split_clips

    clips, total = [], 0
    for frames, _ in split_clips(str(prep_dir), split, 10 ** 9, 10 ** 9):
        clips.append(_faces_at(frames, size))
        total += len(frames)
        if max_frames and total >= max_frames:
            break
    return clips


def fid_with_controls(c: dict[str, Any], faces: dict[str, np.ndarray], prep_dir: Path, size: int) -> dict[str, Any]:
    """FID of the generated faces and of two controls against all frames of all test clips, with its Inception."""
    from evaluation.fid_inception import fid_inception_for
    from evaluation.metrics.fid import face_features, fid_of_features

    cap = c["fid_max_frames"]
    test = split_faces(prep_dir, "test", size)
    calibration = np.concatenate(split_faces(prep_dir, "train", size, max_frames=CALIBRATION_FRAMES))
    inception, kind = fid_inception_for(c["inception_weights"], calibration[:CALIBRATION_FRAMES])
    feats = [face_features(inception, clip) for clip in test]  # per clip, so the halves reuse them
    reference = _at_most(np.concatenate(feats), cap)
    halves = [_at_most(np.concatenate(feats[k::2]), cap) for k in (0, 1)]
    rows = {}
    for name, a, b in (("generated_speech", face_features(inception, _at_most(faces["generated_speech"], cap)),
                        reference),
                       ("source_unsynced", face_features(inception, _at_most(faces["source_unsynced"], cap)),
                        reference),
                       ("test_clips_half_vs_half", halves[0], halves[1])):
        rows[name] = {"fid": fid_of_features(a, b), "frames": [len(a), len(b)]}
        log.info("FID %-24s %8.2f (%d vs %d frames)", name, rows[name]["fid"], len(a), len(b))
    return {"fid": rows["generated_speech"]["fid"], "fid_inception": kind, "fid_rows": rows,
            "fid_reference": f"aligned faces of all {len(test)} test-split clips ({len(reference)} frames)",
            "fid_note": "FID from a few hundred frames of 2048-d features: the covariances are rank-deficient, "
                        "so the number is comparable only with the control rows of the same run"}


def score_demo(cfg: dict[str, Any], generated: dict[str, Any], ckpts: dict[str, Path], prep_dir: Path,
               score_dir: Path) -> dict[str, Any]:
    """The generate stage's outputs + the expert, judge and UNet checkpoints -> the results.json payload."""
    from evaluation.metrics.expert_lse import ALIGNED_SIZE, aligned_faces
    from evaluation.metrics.viseme import per_viseme_confidence, viseme_track
    from data_prep.media import load_audio, read_frames
    from lipsync_train.networks.sync_scorer import load_sync_scorer

    c = cfg["score"]
    score_dir.mkdir(parents=True, exist_ok=True)
    judge, expert = load_sync_scorer(ckpts["judge"]), load_sync_scorer(ckpts["expert"])
    videos, faces, rows = generated["videos"], {}, {}
    # the text video is scored against the exact espeak speech (the mp4 holds it as AAC)
    audio = {"speech": load_audio(videos["ground_truth"]), "text": np.load(generated["text_audio"])}
    for name, path in videos.items():
        aligned = aligned_faces(read_frames(path))
        faces[name] = aligned.frames
        rows[name] = {"video": path, "frames": len(aligned.frames), "frames_without_face": aligned.missing}
    lse, judged, expert_rows = judge_rows(judge, expert, faces, audio)
    for name in rows:
        rows[name].update(judged[name])

    # per-viseme confidence: B's speech drives ground truth and generated_speech; the text its own video
    vis_dir = score_dir / "visemes"
    vis_dir.mkdir(exist_ok=True)
    np.save(vis_dir / "speech.viseme_ids.npy",
            viseme_track(audio["speech"], generated["speech_text"], len(faces["ground_truth"])))
    np.save(vis_dir / "text.viseme_ids.npy",
            viseme_track(audio["text"], generated["text"], len(faces["generated_text"])))
    per_viseme = {"ground_truth": per_viseme_confidence({"speech": lse["ground_truth"]}, vis_dir),
                  "generated": per_viseme_confidence({"speech": lse["generated_speech"],
                                                      "text": lse["generated_text"]}, vis_dir)}

    margin = None
    if c["sync_margin_clips"] > 0:
        from lipsync_train.inference.pipeline import LipSyncPipeline
        from evaluation.metrics.sync_margin import check_judge_independent, split_clips, sync_margin

        g = cfg["generate"]
        check_judge_independent(ckpts["unet"], ckpts["judge"])
        margin = sync_margin(LipSyncPipeline.from_checkpoint(ckpts["unet"]), judge,
                             split_clips(str(prep_dir), "test", c["sync_margin_clips"], c["sync_margin_frames"]),
                             g["num_steps"], g["guidance_scale"], cfg["seed"])
        log.info("sync margin over %d generations: %.3f (in sync %.2f, better with the driving audio %.2f)",
                 len(margin["generations"]), margin["margin"], margin["in_sync"], margin["wins"])

    generated_names = ("generated_speech", "generated_text")
    fid = fid_with_controls(c, faces, prep_dir, ALIGNED_SIZE)
    return {
        "acceptance": acceptance(rows, fid["fid_rows"], margin),
        "lse_c": float(np.mean([lse[n].lse_c for n in generated_names])),
        "lse_d": float(np.mean([lse[n].lse_d for n in generated_names])),
        **fid,
        "judge": {"ckpt": str(ckpts["judge"]), "kind": type(judge.net).__name__, "frames": judge.window.n_frames,
                  "distance": getattr(judge.net, "distance_kind", "euclidean"),
                  "note": "an independent SyncNet (experiment=sync_judge: another architecture and seed than the "
                          "UNet's loss expert, never a loss) on aligned faces (evaluation/metrics/expert_lse.py); "
                          "lse_c / lse_d are the means over the generated videos against their driving audio"},
        "training_expert": {"ckpt": str(ckpts["expert"]), "kind": type(expert.net).__name__,
                            "frames": expert.window.n_frames, "videos": expert_rows,
                            "note": "the SyncNet the UNet was trained against: not independent, for contrast only"},
        "videos": rows,
        "per_viseme_lse_c": per_viseme,
        "sync_margin": margin,
        "held_out": {k: generated[k] for k in ("speaker", "face_source", "speech_source", "speech_text", "text")},
        "syncnet_v2": official_lse(c, videos, score_dir) if c["syncnet_v2_weights"] else None,
    }


# does the demo's model lip-sync? (issue 30) the sync margin's bounds, plus the judged confidence against the ground
# truth's and the FID against the untouched source face's control row
LSE_C_OF_GROUND_TRUTH = 0.6
FID_OF_SOURCE_CONTROL = 2.0


def acceptance(rows: dict[str, dict], fid_rows: dict[str, dict], margin: dict[str, Any] | None) -> dict[str, Any]:
    """-> {check: {"value", "bound", "passed"}} and ``passed`` (all of them): what a lip-syncing model reaches."""
    from evaluation.metrics.sync_margin import SYNC_BOUNDS

    checks = {}
    if margin is not None:
        checks.update({f"sync_margin.{k}": {"value": margin[k], "bound": f">= {v:.3f}", "passed": margin[k] >= v}
                       for k, v in SYNC_BOUNDS.items()})
    ratio = rows["generated_speech"]["lse_c"] / max(rows["ground_truth"]["lse_c"], 1e-9)
    checks["lse_c_vs_ground_truth"] = {"value": ratio, "bound": f">= {LSE_C_OF_GROUND_TRUTH}",
                                       "passed": ratio >= LSE_C_OF_GROUND_TRUTH}
    fid = fid_rows["generated_speech"]["fid"] / max(fid_rows["source_unsynced"]["fid"], 1e-9)
    checks["fid_vs_source_control"] = {"value": fid, "bound": f"<= {FID_OF_SOURCE_CONTROL}",
                                       "passed": fid <= FID_OF_SOURCE_CONTROL}
    return {"checks": checks, "passed": all(v["passed"] for v in checks.values()) and margin is not None}


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
