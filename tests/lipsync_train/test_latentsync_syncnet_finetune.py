"""The fine-tune recipe (experiment=latentsync_syncnet_ar_finetune) at tiny scale on CPU: a converted-format
StableSyncNet checkpoint trains on fake shards with LatentSync's BCE on the cosine, its loss falls, a run
resumed from last.ckpt ends bit-identical to an uninterrupted one, and the result loads as a sync expert."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync_train.losses.sync_loss import SyncNetLoss
from lipsync_train.networks.latentsync_syncnet import LatentSyncSyncNet
from lipsync_train.networks.sync_scorer import load_sync_scorer
from tests.helpers.fake_shards import fake_clip, write_fake_shards
from tests.helpers.latentsync_syncnet_helpers import tiny_net, tiny_recipe_overrides, window, write_syncnet_ckpt
from tests.helpers.train_helpers import run

EPOCH = 15  # steps per epoch; the runs go two epochs


def train_losses(out: Path) -> list[float]:
    with open(out / "csv" / "metrics.csv") as f:
        return [float(row["train/loss"]) for row in csv.DictReader(f) if row.get("train/loss")]


@pytest.mark.slow  # three short fits (60 steps of a 0.5 M-parameter net): ~1-2 min on 2 shared cores
@pytest.mark.timeout(600)
def test_recipe_fine_tunes_resumes_exactly_and_loads_back(tmp_path: Path, caplog):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fits run in this process; one thread is faster on 2 shared cores
    try:
        fine_tune_resume_and_load(tmp_path, caplog)
    finally:
        torch.set_num_threads(threads)


def fine_tune_resume_and_load(tmp_path: Path, caplog) -> None:
    shards = write_fake_shards(tmp_path / "shards", shards={"train": 2, "val": 1}, clips_per_shard=3, n_frames=60,
                               size=64, seed=2)
    index = json.loads((shards / "index.json").read_text())  # shards aligned to LatentSync's crop
    (shards / "index.json").write_text(json.dumps(dict(index, align={"size": 64, "template": "latentsync"})))
    init = write_syncnet_ckpt(tmp_path / "syncnet.ckpt", tiny_net(miscalibrated=True), 64)  # cosines ~1
    base = [*tiny_recipe_overrides(init), "data.batch_size=8", f"data.batches_per_epoch={EPOCH}",
            "data.val_max_pairs=8", "data.max_offset=3", f"callbacks.last_checkpoint.every_n_train_steps={EPOCH}"]

    straight = run(shards, tmp_path / "straight", [*base, f"trainer.max_steps={2 * EPOCH}"])
    losses = train_losses(tmp_path / "straight")
    assert len(losses) == 2 * EPOCH and np.mean(losses[-10:]) < 0.75 * np.mean(losses[:5]), losses
    assert set(straight["metrics"]) >= {"val/auc", "val/acc", "val/loss", "val/offset_acc"}

    run(shards, tmp_path / "resumed", [*base, f"trainer.max_steps={EPOCH}"])
    resumed = run(shards, tmp_path / "resumed", [*base, f"trainer.max_steps={2 * EPOCH}", "ckpt_path=last"])
    a = torch.load(straight["last_checkpoint"], map_location="cpu", weights_only=True)
    b = torch.load(resumed["last_checkpoint"], map_location="cpu", weights_only=True)
    assert a["global_step"] == b["global_step"] == 2 * EPOCH
    assert set(a["state_dict"]) == {f"net.{k}" for k in tiny_net().state_dict()}  # LatentSync's keys, nothing else
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    moments = zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values())
    assert all(torch.equal(x["exp_avg"], y["exp_avg"]) and x["step"] == y["step"] == 2 * EPOCH for x, y in moments)

    assert a["sync_net"]["window"] == window(64) and a["sync_net"]["kwargs"] == tiny_net().init_kwargs
    scorer = load_sync_scorer(resumed["last_checkpoint"])
    assert type(scorer.net) is LatentSyncSyncNet and not scorer.extra_state
    clip = fake_clip("probe", 0, "test", "probe-spk", 30, 64, np.random.default_rng(5))
    offset, confidence = scorer.av_offset(clip.frames, clip.audio, max_offset=3)
    assert -3 <= offset <= 3 and confidence >= 0
    assert SyncNetLoss(resumed["last_checkpoint"]).cosine_probability  # usable as the UNet's sync expert
    # the crop of the faces it was trained on is the shards' (index.json align.template), and the mismatch with the
    # init checkpoint's (mesh, the default of a checkpoint without the field) was said
    assert a["sync_net"]["face_template"] == "latentsync" and scorer.face_template == "latentsync"
    assert "trained on 'mesh' face crops but data.shards holds 'latentsync'" in caplog.text
