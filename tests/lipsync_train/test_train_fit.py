"""End-to-end fits on fake shards: outputs, checkpoint contents, exact resume, the sync scorer, syncnet_v2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data_prep.schema import SAMPLES_PER_FRAME
from evaluation.reference_lse import reference_scores
from lipsync_train.networks import SyncNetV2
from lipsync_train.networks.sync_scorer import export_syncnet_v2, load_sync_scorer
from tests.helpers.fake_shards import fake_clip, write_fake_shards
from tests.helpers.train_helpers import TINY_NET, assert_same_training_state, run

def syncnet_python_offset(scorer, frames: np.ndarray, audio: np.ndarray, vshift: int) -> tuple[int, float]:
    """syncnet_python's offset and confidence written out from the scorer's window embeddings: each video window
    against the audio windows i-vshift..i+vshift (zero vectors past the ends), mean over windows, offset =
    vshift - argmin, confidence = median - min; the distance is the net's own (1 - cos or L2)."""
    video_emb, audio_emb = scorer.window_embeddings(frames, audio)
    zeros = torch.zeros(vshift, audio_emb.shape[1])
    padded = torch.cat([zeros, audio_emb, zeros])

    def dist(a: torch.Tensor, v: torch.Tensor) -> float:
        if scorer.net.distance_kind == "cosine":
            return float(1 - torch.dot(a, v) / (a.norm() * v.norm()).clamp_min(1e-8))
        return float((a - v + 1e-6).norm())

    mean = np.mean([[dist(padded[i + j], video_emb[i]) for j in range(2 * vshift + 1)]
                    for i in range(len(video_emb))], axis=0)
    return vshift - int(np.argmin(mean)), float(np.median(mean) - mean.min())


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    return write_fake_shards(tmp_path_factory.mktemp("shards"), shards={"train": 4, "val": 1}, clips_per_shard=2,
                             n_frames=50, size=64)


def test_fit_writes_outputs_and_resumes_exactly(shard_dir: Path, tmp_path: Path):
    base = ["experiment=syncnet", *TINY_NET, "data.batch_size=8", "data.batches_per_epoch=3", "data.val_max_pairs=8",
            "data.max_offset=4", "callbacks.last_checkpoint.every_n_train_steps=3"]
    summary = run(shard_dir, tmp_path, [*base, "trainer.max_steps=6"])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["global_step"] == 6 and set(saved["metrics"]) >= {"val/acc", "val/auc", "val/loss", "val/offset_acc"}
    assert saved == json.loads(json.dumps(summary))
    assert Path(saved["best_checkpoint"]).is_file() and saved["last_checkpoint"].endswith("last.ckpt")
    assert f"shards: {shard_dir}" in (tmp_path / "config.yaml").read_text()
    assert (tmp_path / "git_revision.txt").read_text().strip()

    ckpt = torch.load(saved["last_checkpoint"], map_location="cpu", weights_only=True)  # plain data only
    assert ckpt["global_step"] == 6 and ckpt["config"]["data"]["shards"] == str(shard_dir)
    assert ckpt["sync_net"]["window"]["n_frames"] == 16 and ckpt["optimizer_states"][0]["state"][0]["step"] == 6

    resumed = run(shard_dir, tmp_path, [*base, "trainer.max_steps=9", "ckpt_path=last"])
    assert resumed["global_step"] == 9
    ckpt = torch.load(resumed["last_checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["optimizer_states"][0]["state"][0]["step"] == 9  # Adam moments continued, not restarted
    # exact: the 6 + 3 fit ends with the weights and Adam moments of an uninterrupted 9-step fit
    straight = run(shard_dir, tmp_path / "straight", [*base, "trainer.max_steps=9"])
    assert_same_training_state(ckpt, torch.load(straight["last_checkpoint"], map_location="cpu", weights_only=True))

    scorer = load_sync_scorer(resumed["last_checkpoint"])
    prefix = ckpt["sync_net"]["state_prefix"]
    trained = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    assert trained and set(trained) == set(scorer.net.state_dict())
    assert all(torch.equal(scorer.net.state_dict()[k], v) for k, v in trained.items())  # the fit's weights
    clip = fake_clip("probe", 0, "test", "probe-spk", 40, 64, np.random.default_rng(3))
    offset, confidence = scorer.av_offset(clip.frames, clip.audio, max_offset=5)
    assert (offset, confidence) == pytest.approx(syncnet_python_offset(scorer, clip.frames, clip.audio, 5), abs=1e-5)


@pytest.mark.slow  # 224 px 3D convs: ~40 s on 2 CPU cores
def test_syncnet_v2_trains_a_step_and_exports_the_official_format(shard_dir: Path, tmp_path: Path):
    summary = run(shard_dir, tmp_path, ["experiment=syncnet_v2", "data.batch_size=2", "data.batches_per_epoch=1",
                                        "trainer.max_steps=1", "data.val_max_pairs=2", "data.max_offset=2",
                                        "data.val_windows_per_clip=1"])
    assert summary["global_step"] == 1 and "val/auc" in summary["metrics"]
    official = export_syncnet_v2(summary["last_checkpoint"], tmp_path / "syncnet_v2.model")
    state = torch.load(official, weights_only=True)
    assert set(state) == {k for k in SyncNetV2().state_dict() if not k.endswith("num_batches_tracked")}
    scorer = load_sync_scorer(official)  # a bare official-format state dict loads too
    assert isinstance(scorer.net, SyncNetV2) and scorer.window.channel_order == "bgr"
    clip = fake_clip("probe", 0, "test", "probe-spk", 12, 64, np.random.default_rng(4))
    faces = np.stack([cv2.resize(f, (224, 224), interpolation=cv2.INTER_AREA) for f in clip.frames])  # RGB 224
    offset, confidence = scorer.av_offset(faces, clip.audio, max_offset=2)
    # the exported weights score like the reference port of syncnet_python (its own MFCC and windows, BGR input).
    # syncnet_python stops one window short (T - 5 windows) where the scorer takes all T - 4: one more frame of
    # video and audio for the reference gives it the same windows
    ref_faces = np.concatenate([faces, faces[-1:]])[..., ::-1]
    ref_audio = np.concatenate([clip.audio, np.zeros(SAMPLES_PER_FRAME, np.int16)])
    ref_offset, ref_conf, _, _ = reference_scores(scorer.net, ref_faces, ref_audio, vshift=2)
    assert offset == ref_offset and confidence == pytest.approx(ref_conf, rel=1e-3, abs=1e-4)


def test_load_sync_scorer_errors_name_the_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        load_sync_scorer(tmp_path / "nope.ckpt")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(KeyError, match="other.pt.*sync_net"):
        load_sync_scorer(tmp_path / "other.pt")
