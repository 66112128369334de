"""LSE with this project's expert: the protocol's reduction over the expert's distances, offset sign, face crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from data_prep.schema import SAMPLES_PER_FRAME
from evaluation.metrics.expert_lse import aligned_faces, expert_lse
from data_prep.window_spec import WindowSpec
from lipsync_train.networks.sync_scorer import SyncScorer

N_FRAMES = 5


class LoudnessExpert(nn.Module):
    """A hand-made 'SyncNet': video = per-frame brightness, audio = per-frame mel energy, both z-scored."""

    distance_kind = "euclidean"

    @staticmethod
    def _z(x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-6)

    def embed_video(self, v: torch.Tensor) -> torch.Tensor:  # (B, n, 3, h, w)
        return self._z(v.mean(dim=(2, 3, 4)))  # (B, n)

    def embed_audio(self, a: torch.Tensor) -> torch.Tensor:  # (B, bins, 4 n)
        energy = a.mean(1).unflatten(1, (N_FRAMES, 4)).mean(2)  # (B, n)
        return self._z(energy)


def loudness_clip(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames whose brightness and audio whose loudness follow the same random envelope."""
    rng = np.random.default_rng(seed)
    env = rng.uniform(0.05, 1.0, n_frames)
    frames = np.repeat((40 + 200 * env).astype(np.uint8)[:, None, None, None], 32, 1).repeat(32, 2).repeat(3, 3)
    t = np.arange(n_frames * SAMPLES_PER_FRAME) / 16000
    audio = (np.repeat(env, SAMPLES_PER_FRAME) * 12000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    return frames, audio


@pytest.fixture
def scorer() -> SyncScorer:
    window = WindowSpec(n_frames=N_FRAMES, image_size=32, crop="full", audio_kind="mel", n_audio_bins=40)
    return SyncScorer(LoudnessExpert(), window)


def test_in_sync_clip_scores_offset_zero_and_high_confidence(scorer):
    frames, audio = loudness_clip(80)
    res = expert_lse(scorer, frames, audio, vshift=6)
    assert res.offset == 0
    assert res.n_windows == 80 - N_FRAMES + 1
    assert res.lse_c > 0.5
    assert res.lse_d == pytest.approx(float(res.mdist.min()))


def test_delayed_audio_gives_the_syncnet_python_offset_and_lower_confidence(scorer):
    frames, audio = loudness_clip(80)
    k = 3  # audio starts k frames late: the audio of video frame t is audio frame t + k
    delayed = np.concatenate([np.zeros(k * SAMPLES_PER_FRAME, np.int16), audio[:-k * SAMPLES_PER_FRAME]])
    synced = expert_lse(scorer, frames, audio, vshift=6)
    late = expert_lse(scorer, frames, delayed, vshift=6)
    assert late.offset == -k
    assert late.offset == scorer.av_offset(frames, delayed, max_offset=6)[0]
    shuffled = expert_lse(scorer, frames, loudness_clip(80, seed=1)[1], vshift=6)
    assert shuffled.lse_c < synced.lse_c / 2


def test_reduction_is_the_published_one(scorer):
    """expert_lse against syncnet_python's evaluate written out here from the embeddings: calc_pdist's
    per-window loop over zero-padded audio, then offset = vshift - argmin, conf = median - min of the mean."""
    frames, audio = loudness_clip(40)
    k = 2  # audio 2 frames late, so the argmin is off the centre and a sign or padding slip shows
    audio = np.concatenate([np.zeros(k * SAMPLES_PER_FRAME, np.int16), audio[:-k * SAMPLES_PER_FRAME]])
    vshift = 4
    video_emb, audio_emb = scorer.window_embeddings(frames, audio)  # (N, D) each
    padded = torch.cat([torch.zeros(vshift, audio_emb.shape[1]), audio_emb, torch.zeros(vshift, audio_emb.shape[1])])
    dists = torch.stack([torch.stack([torch.linalg.vector_norm(video_emb[i] - padded[i + j] + 1e-6)
                                      for j in range(2 * vshift + 1)]) for i in range(len(video_emb))])
    mdist = dists.mean(0)
    minidx = int(torch.argmin(mdist))
    res = expert_lse(scorer, frames, audio, vshift=vshift)
    assert res.offset == vshift - minidx == -k
    assert res.lse_d == pytest.approx(float(mdist[minidx]), abs=1e-5)
    assert res.lse_c == pytest.approx(float(np.sort(mdist.numpy())[vshift] - mdist[minidx]), abs=1e-5)  # odd count
    assert res.n_windows == len(video_emb)


def test_aligned_faces_tracks_a_face_video(tmp_path):
    from tests.helpers.video_helpers import face_video
    from data_prep.media import read_frames

    frames = read_frames(face_video(tmp_path / "face.mp4", seconds=1.0))
    out = aligned_faces(frames, size=64)
    assert out.frames.shape == (len(frames), 64, 64, 3) and out.frames.dtype == np.uint8
    assert out.missing == 0
    with pytest.raises(ValueError, match="no face found"):
        aligned_faces(np.zeros((10, 120, 160, 3), np.uint8), size=64)
