"""Is the generated mouth driven by the audio? Each generation scored against its own and another audio.

The acceptance check of a diffusion UNet. For every clip of a split, the model
regenerates the clip's mouth twice: once from the clip's audio and once from
another clip's (a derangement of the split). Every generation is then scored
both ways by an independent judge (syncnet_python's offset / confidence, i.e.
LSE-C with a SyncNet checkpoint, :meth:`SyncScorer.av_offset`): against the
audio that drove it and against the other audio. A model that listens scores
higher against its driving audio in *both* generations, at an offset near 0.
The three ways a weaker check is fooled are closed:

- **the judge is not the generator's loss expert**: a UNet trained with a
  SyncNet loss was optimised to please that expert, so the judge must be a
  separately trained SyncNet (``experiment=sync_judge``: another architecture,
  another seed); :func:`check_judge_independent` refuses the UNet's own expert;
- **offsets count**: a mouth that fits best 15 frames away is not in sync; the
  offset against the driving audio is kept and ``in_sync`` counts generations
  within one frame of 0;
- **both ways**: a blurred or frozen mouth scores low against any audio, so the
  margin compares each generation's own audio with the other audio rather
  than the own-audio generation with the shuffled one.

References come from another part of the clip (half the clip away,
:func:`~lipsync_train.inference.video.reference_indices`), as training takes
them and as a user's dub would: with the target frames themselves as
references the own-audio case is a reconstruction with the true mouth in the
input. Frames come straight from the shards (already aligned), so no face
tracking is involved; the ground truth's own score is reported as the ceiling.

    lipsync-eval metrics=[sync_margin] shards=DIR unet_ckpt=UNET.ckpt expert_ckpt=JUDGE.ckpt out_dir=DIR
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
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
IN_SYNC_FRAMES = 1  # |offset| <= this against the driving audio counts as in sync
# What a model that lip-syncs must reach (issue 30's acceptance). A generator that copies the source mouth scores
# wins 0.5 and in_sync 0.5 (right for its own audio, wrong for the other), a deaf one about 0.5 wins and in-sync
# offsets only by chance: both fail (tests/evaluation/test_sync_margin.py), and so must the null control
# (data.audio_from=other_clip, benchmarks/bench_sync_margin.py)
SYNC_BOUNDS = {"margin": 0.25, "wins": 7 / 8, "in_sync": 7 / 8}


def meets_bounds(result: dict[str, Any], bounds: dict[str, float] = SYNC_BOUNDS) -> bool:
    """Whether a :func:`sync_margin` result reaches every bound (``margin``, ``wins``, ``in_sync``)."""
    return all(result[k] >= v for k, v in bounds.items())


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
        raise ValueError(f"{shards}: split {split!r} has {len(clips)} clip(s); another clip's audio needs at least 2")
    return clips


def regenerate(pipe: LipSyncPipeline, frames: np.ndarray, audio: np.ndarray, reference: str = "shifted",
               **kw: Any) -> np.ndarray:
    """Aligned frames (T, S0, S0, 3) + audio -> (T, S, S, 3) uint8 with the mouth regenerated from ``audio``.

    ``reference="shifted"``: each frame's reference is the frame half the clip away; ``"same"``: itself."""
    from lipsync_train.inference.video import reference_indices

    s = pipe.image_size
    small = np.stack([cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA) for f in frames])
    faces = torch.from_numpy(small).permute(0, 3, 1, 2).contiguous()  # (T, 3, S, S)
    refs = faces[torch.from_numpy(reference_indices(len(frames), mode=reference))]
    tokens = pipe.audio_encoder.clip_features(audio, n_frames=len(frames))
    return pipe.generate(faces, refs, tokens, **kw).permute(0, 2, 3, 1).numpy()


def fit_audio(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Another clip's audio repeated or cut to ``n_samples`` (so it can drive and judge this clip's frames)."""
    return np.resize(audio, n_samples) if len(audio) else np.zeros(n_samples, np.int16)


def judged(scorer: SyncScorer, frames: np.ndarray, audio: np.ndarray) -> dict[str, float]:
    offset, conf = scorer.av_offset(frames, audio)
    return {"offset": offset, "confidence": conf}


def sync_margin(pipe: LipSyncPipeline, judge: SyncScorer, clips: list[tuple[np.ndarray, np.ndarray]],
                num_steps: int = 20, guidance_scale: float = 1.5, seed: int = 0,
                reference: str = "shifted") -> dict[str, Any]:
    """-> per-generation scores both ways, the ground truth's, and the summary numbers.

    ``margin``: mean confidence against the driving audio minus against the other audio, over all
    ``2 x len(clips)`` generations; ``in_sync``: share of generations whose offset against the driving
    audio is within :data:`IN_SYNC_FRAMES`; ``wins``: share scoring higher against the driving audio.
    """
    kw = dict(num_steps=num_steps, guidance_scale=guidance_scale, seed=seed, reference=reference)
    generations, ground_truth = [], []
    for i, (frames, audio) in enumerate(clips):
        j = (i + 1) % len(clips)
        other = fit_audio(clips[j][1], len(audio))
        ground_truth.append(judged(judge, frames, audio))
        for driving, name, against in ((audio, "own", other), (other, f"clip {j}", audio)):
            video = regenerate(pipe, frames, driving, **kw)
            row = {"clip": i, "driven_by": name, "vs_driving": judged(judge, video, driving),
                   "vs_other": judged(judge, video, against)}
            generations.append(row)
            log.info("clip %d driven by %-7s confidence %.3f (offset %+d) vs its driving audio, %.3f (offset %+d) "
                     "vs the other", i, name, row["vs_driving"]["confidence"], row["vs_driving"]["offset"],
                     row["vs_other"]["confidence"], row["vs_other"]["offset"])
    driving = np.array([g["vs_driving"]["confidence"] for g in generations])
    other = np.array([g["vs_other"]["confidence"] for g in generations])
    offsets = np.array([g["vs_driving"]["offset"] for g in generations])
    return {"generations": generations, "ground_truth": ground_truth, "reference": reference,
            "margin": float(driving.mean() - other.mean()),
            "wins": float((driving > other).mean()),
            "in_sync": float((np.abs(offsets) <= IN_SYNC_FRAMES).mean()),
            "confidence_vs_driving": float(driving.mean()), "confidence_vs_other": float(other.mean()),
            "ground_truth_confidence": float(np.mean([g["confidence"] for g in ground_truth]))}


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def training_expert_of(unet_ckpt: str | Path) -> str | None:
    """The SyncNet checkpoint a lipsync-train UNet was trained against (its ``model.syncnet_ckpt``), if any."""
    ckpt = torch.load(unet_ckpt, map_location="cpu", weights_only=True, mmap=True)
    return (ckpt.get("hyper_parameters") or {}).get("syncnet_ckpt")


def check_judge_independent(unet_ckpt: str | Path, judge_ckpt: str | Path) -> None:
    """Refuse to judge a UNet with the SyncNet it was trained against (same file or same bytes)."""
    expert = training_expert_of(unet_ckpt)
    if not expert or not Path(expert).is_file():
        return  # no SyncNet loss, or its expert is not on this machine (then it cannot be the judge file)
    judge = Path(judge_ckpt)
    if judge.resolve() == Path(expert).resolve() or _sha1(judge) == _sha1(Path(expert)):
        raise ValueError(f"expert_ckpt={judge}: this is the SyncNet {unet_ckpt} was trained against "
                         f"(model.syncnet_ckpt={expert}); a generator optimised to please it cannot be judged by it. "
                         f"Train an independent judge: lipsync-train experiment=sync_judge data.shards=...")


def score_sync_margin(run: EvalRun) -> None:
    """lipsync-eval's ``sync_margin``: a UNet checkpoint regenerates test clips of ``shards`` from their own
    and from another clip's audio, each scored both ways by the judge ``expert_ckpt``."""
    from lipsync_train.inference.pipeline import LipSyncPipeline
    from lipsync_train.networks.sync_scorer import load_sync_scorer

    cfg, c = run.cfg, run.cfg["sync_margin"]
    check_judge_independent(cfg["unet_ckpt"], cfg["expert_ckpt"])
    clips = split_clips(cfg["shards"], c["split"], c["max_clips"], c["max_frames"])
    run.payload["sync_margin"] = sync_margin(LipSyncPipeline.from_checkpoint(cfg["unet_ckpt"]),
                                             load_sync_scorer(cfg["expert_ckpt"], cfg["device"]), clips,
                                             c["num_steps"], c["guidance_scale"], c["seed"], c["reference"])


register(Metric("sync_margin", "a UNet's judged sync with its driving audio minus with another clip's, both ways",
                score_sync_margin, needs=("unet_ckpt", "shards", "expert_ckpt"), reads_videos=False,
                protocol=lambda cfg: {"sync_margin": {**cfg["sync_margin"], "unet_ckpt": cfg["unet_ckpt"],
                                                      "judge": cfg["expert_ckpt"], "shards": cfg["shards"],
                                                      "in_sync_frames": IN_SYNC_FRAMES}}))
