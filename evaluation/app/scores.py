"""LSE-C / LSE-D of the app's result, beside the video: the scorers of the evaluation floor, nothing new.

- ``expert``: this project's SyncNet expert (``expert_ckpt=``) on faces aligned
  like the shards (:mod:`evaluation.metrics.expert_lse`), the in-language judge;
- ``syncnet_v2``: the published protocol (:mod:`evaluation.metrics.lse_runner`,
  faces tracked and cropped like syncnet_python) when ``syncnet_v2_weights=`` is set.

Both are scored against the exact speech the video was made from. The scorers
are loaded once. A video too short for a scorer's window gets a note instead
of numbers; the generation itself still stands.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.schema import SAMPLES_PER_FRAME

log = logging.getLogger(__name__)


class ResultScorer:
    """Scores generated videos with whichever judges were configured (none: an empty table)."""

    def __init__(self, expert_ckpt: str | None = None, syncnet_v2_weights: str | None = None, device: str = "cpu"):
        self.expert_ckpt, self.syncnet_v2_weights, self.device = expert_ckpt, syncnet_v2_weights, device
        self._expert = self._syncnet_v2 = None

    @property
    def judges(self) -> list[str]:
        return [name for name, on in (("expert", self.expert_ckpt), ("syncnet_v2", self.syncnet_v2_weights)) if on]

    def score(self, video: str | Path, audio: np.ndarray) -> dict[str, dict[str, Any]]:
        """-> {judge: {"lse_c", "lse_d", "offset"} or {"note"}} for ``video`` made from ``audio`` (int16 16 kHz)."""
        from data_prep.media import read_frames

        out: dict[str, dict[str, Any]] = {}
        if self.expert_ckpt:
            from evaluation.metrics.expert_lse import aligned_faces, expert_lse
            from lipsync_train.networks.sync_scorer import load_sync_scorer

            if self._expert is None:
                self._expert = load_sync_scorer(self.expert_ckpt, self.device)
            try:
                faces = aligned_faces(read_frames(video), template=self._expert.face_template)
                res = expert_lse(self._expert, faces.frames, audio[:len(faces.frames) * SAMPLES_PER_FRAME])
                out["expert"] = {"lse_c": res.lse_c, "lse_d": res.lse_d, "offset": res.offset}
            except ValueError as err:  # no face in the result, or shorter than the expert's window
                out["expert"] = {"note": str(err)}
        if self.syncnet_v2_weights:
            from evaluation.metrics.lse_runner import score_videos
            from evaluation.syncnet_loader import load_syncnet

            if self._syncnet_v2 is None:
                self._syncnet_v2 = load_syncnet(self.syncnet_v2_weights, self.device)
            results, failed = score_videos(self._syncnet_v2, [Path(video)], crop="track", workers=1,
                                           device=self.device, progress=False)
            res = results.get(Path(video).name)
            out["syncnet_v2"] = ({"lse_c": res.lse_c, "lse_d": res.lse_d, "offset": res.offset} if res else
                                 {"note": "; ".join(f"{f['reason']}: {f['detail']}" for f in failed) or "not scored"})
        return out


def scores_markdown(scores: dict[str, dict[str, Any]]) -> str:
    """The scores as a small markdown table for the page."""
    if not scores:
        return "No sync judge configured (start the app with `expert_ckpt=` and/or `syncnet_v2_weights=`)."
    rows = ["| judge | LSE-C ↑ | LSE-D ↓ | offset |", "|---|---|---|---|"]
    for name, s in scores.items():
        rows.append(f"| {name} | {s['lse_c']:.3f} | {s['lse_d']:.3f} | {s['offset']:+d} |" if "lse_c" in s
                    else f"| {name} | – | – | {s['note']} |")
    return "\n".join(rows)
