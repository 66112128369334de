"""The sync-margin bookkeeping with stand-ins: both-ways scoring, offsets, shifted references, an independent judge.

The stand-in generator writes which audio it followed (and with what lag) into the frames; the stand-in
judge reads it back, so each test knows the right answer without a trained model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from data_prep.schema import SAMPLES_PER_FRAME
from evaluation.metrics.sync_margin import SYNC_BOUNDS, check_judge_independent, meets_bounds, sync_margin
from lipsync_train.inference.video import reference_indices

S = 8


class StandInEncoder:
    def clip_features(self, audio: np.ndarray, n_frames: int) -> torch.Tensor:
        tag = float(audio[0])  # each clip's audio is constant, its value names the clip
        return torch.full((n_frames, 1, 1), tag)


class StandInPipeline:
    """Mouth = the driving audio's tag (``listens``) or a constant (ignores audio), drawn ``lag`` frames late."""

    image_size = S

    def __init__(self, listens: bool = True, lag: int = 0):
        self.listens, self.lag, self.audio_encoder, self.references = listens, lag, StandInEncoder(), []

    def generate(self, faces, references, tokens, num_steps, guidance_scale, seed, **_):
        self.references.append((faces.clone(), references.clone()))
        out = faces.clone()
        out[:, 0] = int(tokens[0, 0, 0]) if self.listens else 7
        out[:, 1] = self.lag
        return out


class StandInJudge:
    """Confidence 1 at the generator's lag when the frames show this audio's tag, else 0.1 at offset 0."""

    def av_offset(self, frames: np.ndarray, audio: np.ndarray) -> tuple[int, float]:
        if frames[0, 0, 0, 0] == audio[0]:
            return int(frames[0, 0, 0, 1]), 1.0
        return 0, 0.1


def clips(n: int = 3, frames: int = 40) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.integers(0, 255, (frames, S, S, 3), dtype=np.uint8),
             np.full(frames * SAMPLES_PER_FRAME, 20 + i, np.int16)) for i in range(n)]


class CopySourcePipeline(StandInPipeline):
    """Ignores its audio and hands back the source frames: the source mouth, which fits the clip's own audio."""

    def generate(self, faces, references, tokens, num_steps, guidance_scale, seed, **_):
        return faces.clone()


class ChanceJudge(StandInJudge):
    """As :class:`StandInJudge`, but a mouth that does not show this audio gets what a real judge gives
    unrelated audio: a low confidence and an offset anywhere in its +-15 search, both varying by pair."""

    def av_offset(self, frames: np.ndarray, audio: np.ndarray) -> tuple[int, float]:
        if frames[0, 0, 0, 0] == audio[0]:
            return int(frames[0, 0, 0, 1]), 1.0
        rng = np.random.default_rng([int(frames[0, 0, 0, 0]), int(audio[0]), int(frames[1].sum())])
        return int(rng.integers(-15, 16)), float(rng.uniform(0.05, 0.15))


def tagged_clips(n: int = 8, frames: int = 40) -> list[tuple[np.ndarray, np.ndarray]]:
    """As :func:`clips`, with each clip's true mouth: its frames show its own audio's tag, at lag 0."""
    out = []
    for video, audio in clips(n, frames):
        video = video.copy()
        video[:, 0, 0, 0], video[:, 0, 0, 1] = audio[0], 0
        out.append((video, audio))
    return out


def test_copying_the_source_mouth_wins_half_is_in_sync_half_and_fails_the_bounds():
    res = sync_margin(CopySourcePipeline(), ChanceJudge(), tagged_clips())
    assert res["wins"] == 0.5 and res["in_sync"] == pytest.approx(0.5, abs=1 / 16)  # a chance offset may be near 0
    assert not meets_bounds(res) and res["wins"] < SYNC_BOUNDS["wins"] and res["in_sync"] < SYNC_BOUNDS["in_sync"]


def test_a_deaf_generator_fails_the_bounds_and_a_listening_one_meets_them():
    deaf = sync_margin(StandInPipeline(listens=False), ChanceJudge(), tagged_clips())
    assert abs(deaf["margin"]) < 0.1 and deaf["in_sync"] < 0.5 and not meets_bounds(deaf), deaf
    assert meets_bounds(sync_margin(StandInPipeline(), ChanceJudge(), tagged_clips()))
    late = sync_margin(StandInPipeline(lag=3), ChanceJudge(), tagged_clips())
    assert late["margin"] > SYNC_BOUNDS["margin"] and not meets_bounds(late)  # confident, but 3 frames late


def test_a_generator_that_follows_its_audio_wins_both_ways():
    res = sync_margin(StandInPipeline(), StandInJudge(), clips())
    assert len(res["generations"]) == 6  # each clip driven by its own audio and by another clip's
    assert res["wins"] == 1.0 and res["in_sync"] == 1.0 and res["margin"] == pytest.approx(0.9)
    other = [g for g in res["generations"] if g["driven_by"] != "own"]
    assert all(g["vs_driving"]["confidence"] == 1.0 and g["vs_other"]["confidence"] == 0.1 for g in other)


def test_a_generator_that_ignores_its_audio_has_no_margin():
    res = sync_margin(StandInPipeline(listens=False), StandInJudge(), clips())
    assert res["margin"] == 0.0 and res["wins"] == 0.0


def test_confident_but_late_mouths_are_not_in_sync():
    res = sync_margin(StandInPipeline(lag=5), StandInJudge(), clips())
    assert res["margin"] > 0.5 and res["in_sync"] == 0.0
    assert {g["vs_driving"]["offset"] for g in res["generations"]} == {5}


def test_references_come_from_half_a_clip_away():
    pipe = StandInPipeline()
    sync_margin(pipe, StandInJudge(), clips(n=2, frames=40))
    faces, refs = pipe.references[0]
    assert torch.equal(refs, faces.roll(-20, dims=0))  # frame t's reference is frame t + 20 (mod 40)
    pipe = StandInPipeline()
    sync_margin(pipe, StandInJudge(), clips(n=2, frames=40), reference="same")
    faces, refs = pipe.references[0]
    assert torch.equal(refs, faces)


def test_reference_indices():
    assert reference_indices(1).tolist() == [0]
    ref = reference_indices(50)
    assert (np.minimum(abs(ref - np.arange(50)), 50 - abs(ref - np.arange(50))) >= 25).all()
    has_face = np.ones(10, bool)
    has_face[5:8] = False  # frames 0, 1, 2 would take 5, 6, 7: the nearest frames with a face instead
    ref = reference_indices(10, has_face)
    assert has_face[ref].all() and ref[:3].tolist() == [4, 4, 8]
    assert reference_indices(5, mode="same").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="reference='target'"):
        reference_indices(5, mode="target")


def test_the_judge_must_not_be_the_unets_loss_expert(tmp_path: Path):
    expert, copy, judge = tmp_path / "expert.ckpt", tmp_path / "copy.ckpt", tmp_path / "judge.ckpt"
    torch.save({"state_dict": {"w": torch.ones(3)}}, expert)
    copy.write_bytes(expert.read_bytes())
    torch.save({"state_dict": {"w": torch.zeros(3)}}, judge)
    unet = tmp_path / "unet.ckpt"
    torch.save({"hyper_parameters": {"syncnet_ckpt": str(expert)}}, unet)
    for same in (expert, copy):
        with pytest.raises(ValueError, match="trained against"):
            check_judge_independent(unet, same)
    check_judge_independent(unet, judge)  # another network: accepted
