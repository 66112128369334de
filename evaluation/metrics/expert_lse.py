"""LSE-C / LSE-D with a SyncNet expert trained by this project, on aligned face crops.

The published protocol (:mod:`evaluation.metrics.lse`) needs the official syncnet_v2
weights, an English-trained judge. The expert this project trains on the same
Arabic data (the StableSyncNet that supervises the UNet, or a syncnet_v2
trained with ``experiment=syncnet_v2``) is the in-language judge. This module
gives the same two numbers with it: every window's distance to the audio at
shifts ``-vshift..vshift`` (:meth:`SyncScorer.shift_distances`, audio zero
beyond the clip), reduced exactly as the protocol does
(:func:`evaluation.metrics.lse.lse_from_distances`: LSE-D = min of the mean distances,
LSE-C = median - min, offset = vshift - argmin). The distances are the
expert's own (``1 - cos`` for StableSyncNet), so compare numbers scored with
the same expert, never with published syncnet_v2 figures.

Faces are aligned exactly like the training crops: tracked with the dataset
pipeline's tracker and warped at the shard face size to the template the expert
was trained on (:func:`data_prep.face_align.track_affines`; ``latentsync`` for
LatentSync's converted StableSyncNet). Frames without exactly
one face borrow the nearest tracked frame's transform and are counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from evaluation.metrics.lse import VSHIFT, LSEResult, lse_from_distances
from evaluation.registry import EvalRun, Metric, register
from lipsync_train.networks.sync_scorer import SyncScorer

log = logging.getLogger(__name__)
ALIGNED_SIZE = 256  # the shards' aligned face side (data_prep align.size)


@dataclass
class AlignedFaces:
    frames: np.ndarray  # (T, S, S, 3) uint8 RGB aligned crops
    missing: int  # frames whose face was not found (their neighbour's transform was used)


def aligned_faces(frames: np.ndarray, size: int = ALIGNED_SIZE, template: str = "mesh") -> AlignedFaces:
    """(T, H, W, 3) RGB source frames at 25 fps -> aligned crops, as the dataset pipeline makes them
    (``template``: the expert's crop, ``data_prep.face_align``)."""
    from data_prep.face_align import align, track_affines

    affines = track_affines(frames, size, template=template)  # (T, 2, 3), NaN without a face
    found = np.flatnonzero(np.isfinite(affines).all(axis=(1, 2)))
    if not len(found):
        raise ValueError(f"no face found in any of {len(frames)} frames")
    nearest = found[np.abs(np.arange(len(frames))[:, None] - found[None, :]).argmin(1)]  # (T,)
    crops = np.stack([align(frame, affines[j], size) for frame, j in zip(frames, nearest)])
    return AlignedFaces(crops, int(len(frames) - len(found)))


def expert_lse(scorer: SyncScorer, faces: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT) -> LSEResult:
    """Aligned faces (T, S, S, 3) uint8 RGB + (N,) int16 16 kHz audio -> LSEResult with the expert's distances."""
    dists = scorer.shift_distances(faces, audio, vshift)  # (n, 2 vshift + 1)
    return lse_from_distances(dists.float().cpu(), vshift)


def score_expert_lse(run: EvalRun) -> None:
    """lipsync-eval's ``expert_lse``: LSE-C / LSE-D of every video with a SyncNet checkpoint of this project."""
    from data_prep.media import load_audio, read_frames
    from data_prep.schema import SAMPLES_PER_FRAME
    from lipsync_train.networks.sync_scorer import load_sync_scorer

    scorer = load_sync_scorer(run.cfg["expert_ckpt"], run.cfg["device"])
    rows = []
    for path in run.videos:
        try:
            aligned = aligned_faces(read_frames(path), template=scorer.face_template)
            audio = load_audio(path)
            res = expert_lse(scorer, aligned.frames, audio[:len(aligned.frames) * SAMPLES_PER_FRAME])
        except ValueError as exc:  # no face, no audio, or shorter than the expert's window
            log.warning("expert LSE: %s left out: %s", path.name, exc)
            run.failed.append({"video": path.name, "reason": "expert_lse_failed", "detail": str(exc),
                               "metric": "expert_lse"})
            continue
        rows.append({"video": path.name, "expert_lse_c": res.lse_c, "expert_lse_d": res.lse_d,
                     "expert_offset": res.offset, "frames_without_face": aligned.missing})
    run.add_rows(rows)
    for key in ("expert_lse_c", "expert_lse_d"):
        run.payload[key] = float(np.mean([row[key] for row in rows])) if rows else None


register(Metric("expert_lse", "LSE-C / LSE-D with a SyncNet expert trained by this project, on aligned faces",
                score_expert_lse, needs=("expert_ckpt",), means=("expert_lse_c", "expert_lse_d"),
                protocol=lambda cfg: {"expert_lse": {"expert_ckpt": cfg["expert_ckpt"], "vshift": VSHIFT,
                                                     "faces": f"aligned like the shards, {ALIGNED_SIZE} px"}}))
