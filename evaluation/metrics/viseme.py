"""Per-viseme LSE-C: the published LSE-C confidence split by the Arabic viseme of each window.

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

import logging
from pathlib import Path

import numpy as np

from evaluation.metrics.lse import LSEResult
from evaluation.registry import EvalRun, Metric, register

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


def viseme_track(audio: np.ndarray, text: str, n_frames: int) -> np.ndarray:
    """(T,) viseme id per frame of ``audio`` (-1 silence), aligned by the dataset pipeline's aligner."""
    from data_prep.phonemes import make_aligner
    from data_prep.schema import SAMPLE_RATE

    aligner = make_aligner("builtin", min_confidence=0.0)
    return aligner.align(audio, SAMPLE_RATE, text).frame_labels(n_frames)[1]


def score_viseme_lse(run: EvalRun) -> None:
    """lipsync-eval's ``viseme_lse``: the LSE windows of ``lse`` pooled by the viseme of their centre frame."""
    run.payload["per_viseme_lse_c"] = per_viseme_confidence(run.lse_results, run.cfg["visemes"])


register(Metric("viseme_lse", "LSE-C per Arabic viseme class (needs <video stem>.viseme_ids.npy under visemes=)",
                score_viseme_lse, needs=("syncnet_weights", "visemes"), requires=("lse",),
                protocol=lambda cfg: {"visemes": cfg["visemes"]}))
