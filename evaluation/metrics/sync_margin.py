"""Is the generated mouth driven by the audio? Sync confidence with the true audio vs shuffled audio.

The acceptance check of the diffusion recipe: for every clip of a split, the
model regenerates the mouth of the clip's own aligned frames twice, once from
the clip's audio and once from another clip's audio (a derangement of the
split), and the SyncNet expert trained on the same data scores both against
the clip's true audio with :meth:`~lipsync_train.networks.sync_scorer.SyncScorer.av_offset`
(syncnet_python's offset / confidence, i.e. LSE-C with our expert). A model
that listens scores higher with the true audio; one that ignores audio scores
the same. Frames come straight from the shards (already aligned), so no face
tracking is involved.

    lipsync-eval metrics=[sync_margin] shards=DIR unet_ckpt=UNET.ckpt expert_ckpt=EXPERT.ckpt out_dir=DIR
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
import webdataset as wds

from data_prep import schema
from data_prep.shard_index import read_split
from evaluation.registry import EvalRun, Metric, register

if TYPE_CHECKING:  # the pipeline (diffusers, transformers) is imported only when a margin is computed
    from lipsync_train.inference.pipeline import LipSyncPipeline
    from lipsync_train.networks.sync_scorer import SyncScorer

log = logging.getLogger(__name__)


def split_clips(shards: str, split: str, max_clips: int, max_frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """-> [(frames (T, S, S, 3) uint8, audio (T * 640,) int16)] of the first ``max_clips`` clips of ``split``."""
    clips = []
    for sample in wds.DataPipeline(wds.SimpleShardList(read_split(shards, split).paths), wds.tarfile_to_samples()):
        clip = schema.decode_sample(sample)
        t = min(len(clip.frames), max_frames)
        clips.append((clip.frames[:t], clip.audio[:t * schema.SAMPLES_PER_FRAME]))
        if len(clips) >= max_clips:
            break
    if len(clips) < 2:
        raise ValueError(f"{shards}: split {split!r} has {len(clips)} clip(s); shuffling audio needs at least 2")
    return clips


def regenerate(pipe: LipSyncPipeline, frames: np.ndarray, audio: np.ndarray, **kw: Any) -> np.ndarray:
    """Aligned frames (T, S0, S0, 3) + audio -> (T, S, S, 3) uint8 with the mouth regenerated from ``audio``."""
    s = pipe.image_size
    small = np.stack([cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA) for f in frames])
    faces = torch.from_numpy(small).permute(0, 3, 1, 2).contiguous()  # (T, 3, S, S)
    tokens = pipe.audio_encoder.clip_features(audio, n_frames=len(frames))
    return pipe.generate(faces, faces, tokens, **kw).permute(0, 2, 3, 1).numpy()


def sync_margin(pipe: LipSyncPipeline, scorer: SyncScorer, clips: list[tuple[np.ndarray, np.ndarray]],
                num_steps: int = 20, guidance_scale: float = 1.5, seed: int = 0) -> dict[str, Any]:
    """-> {"true": [conf per clip], "shuffled": [...], "margin": mean(true) - mean(shuffled)}."""
    true_conf, shuffled_conf = [], []
    for i, (frames, audio) in enumerate(clips):
        j = (i + 1) % len(clips)  # another clip's audio, cut or padded to this clip's length
        other = np.resize(clips[j][1], len(audio)) if len(clips[j][1]) else np.zeros_like(audio)
        kw = dict(num_steps=num_steps, guidance_scale=guidance_scale, seed=seed)
        true_conf.append(scorer.av_offset(regenerate(pipe, frames, audio, **kw), audio)[1])
        shuffled_conf.append(scorer.av_offset(regenerate(pipe, frames, other, **kw), audio)[1])
        log.info("clip %d: confidence %.3f with its audio, %.3f with clip %d's", i, true_conf[-1], shuffled_conf[-1], j)
    return {"true": true_conf, "shuffled": shuffled_conf,
            "margin": float(np.mean(true_conf) - np.mean(shuffled_conf))}


def score_sync_margin(run: EvalRun) -> None:
    """lipsync-eval's ``sync_margin``: a UNet checkpoint regenerates test clips of ``shards`` from their own
    and from another clip's audio, scored by ``expert_ckpt``."""
    from lipsync_train.inference.pipeline import LipSyncPipeline
    from lipsync_train.networks.sync_scorer import load_sync_scorer

    cfg, c = run.cfg, run.cfg["sync_margin"]
    clips = split_clips(cfg["shards"], c["split"], c["max_clips"], c["max_frames"])
    run.payload["sync_margin"] = sync_margin(LipSyncPipeline.from_checkpoint(cfg["unet_ckpt"]),
                                             load_sync_scorer(cfg["expert_ckpt"], cfg["device"]), clips,
                                             c["num_steps"], c["guidance_scale"], c["seed"])


register(Metric("sync_margin", "a UNet's sync confidence with its own audio minus with another clip's, on shard clips",
                score_sync_margin, needs=("unet_ckpt", "shards", "expert_ckpt"), reads_videos=False,
                protocol=lambda cfg: {"sync_margin": {**cfg["sync_margin"], "unet_ckpt": cfg["unet_ckpt"],
                                                      "expert_ckpt": cfg["expert_ckpt"], "shards": cfg["shards"]}}))
