"""LatentSync's StableSyncNet, in the checkpoint format the converter writes, through every SyncNet consumer:
the sync scorer, the sync loss, the data modules' windows, ``init_from`` and the fine-tune recipe's config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from data_prep.latentsync_audio import syncnet_mel, syncnet_mel_window
from data_prep.window_spec import WindowSpec
from lipsync_train.data.datamodule import SyncPairDataModule
from lipsync_train.data.unet_windows import UNetWindowDataModule
from lipsync_train.launch.config_schema import validate_targets
from lipsync_train.losses.sync_loss import SyncNetLoss
from lipsync_train.modules.syncnet_module import SyncNetLitModule
from lipsync_train.networks import StableSyncNet
from lipsync_train.networks.latentsync_syncnet import LatentSyncSyncNet, load_latentsync_syncnet_state
from lipsync_train.networks.sync_scorer import load_sync_scorer
from tests.helpers.fake_shards import fake_clip, write_fake_shards
from tests.helpers.latentsync_inputs import FIXTURES, SHORT_SAMPLES, SHORT_SEED, make_audio, make_frames, sha256
from tests.helpers.latentsync_syncnet_helpers import tiny_net, write_syncnet_ckpt
from tests.helpers.train_helpers import PASSED_IN, compose_train


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    return write_syncnet_ckpt(tmp_path_factory.mktemp("ls") / "syncnet.ckpt", tiny_net(), 64)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    return write_fake_shards(tmp_path_factory.mktemp("shards"), shards={"train": 2, "val": 1}, clips_per_shard=2,
                             n_frames=50, size=64)


def test_scorer_embeds_latentsync_layout_windows(tiny_ckpt):
    scorer = load_sync_scorer(tiny_ckpt)
    assert type(scorer.net) is LatentSyncSyncNet and scorer.window.audio_kind == "latentsync_mel"
    clip = fake_clip("probe", 0, "test", "probe-spk", 24, 64, np.random.default_rng(3))
    v, a = scorer.window_embeddings(clip.frames, clip.audio)
    assert v.shape == a.shape == (24 - 16 + 1, 64)
    # LatentSync's layout by hand: full faces / 255, Normalize(0.5, 0.5), (B, 16, 3, 64, 64) -> embed_video crops;
    # its mel window (1, 80, 52) from the whole-clip mel at int(80 s / 25)
    faces = (torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5
    mel = syncnet_mel(clip.audio)
    starts = range(len(v))
    with torch.no_grad():
        ref_v = scorer.net.embed_video(torch.stack([faces[s:s + 16] for s in starts]))  # (9, 16, 3, 64, 64)
        ref_a = scorer.net.embed_audio(torch.from_numpy(np.stack([syncnet_mel_window(mel, s) for s in starts])).float())
    torch.testing.assert_close(v, ref_v, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a, ref_a, rtol=1e-5, atol=1e-6)
    offset, confidence = scorer.av_offset(clip.frames, clip.audio, max_offset=3)
    assert isinstance(offset, int) and -3 <= offset <= 3 and confidence >= 0


def test_sync_loss_is_latentsyncs_cosine_loss_on_its_fixture(tmp_path):
    ref = torch.load(FIXTURES / "syncnet_outputs.pt", weights_only=True)  # LatentSync's own outputs
    net = LatentSyncSyncNet.from_latentsync_config(FIXTURES / "syncnet_small.yaml")
    load_latentsync_syncnet_state(net, torch.load(FIXTURES / "stable_syncnet_small.pt", weights_only=True))
    loss_fn = SyncNetLoss(write_syncnet_ckpt(tmp_path / "syncnet.ckpt", net, 256))
    assert loss_fn.cosine_probability and not loss_fn.calibrated
    frames_u8 = make_frames(2, 16, 256, seed=3)
    assert sha256(frames_u8) == ref["frames_sha256"]
    frames = (torch.from_numpy(frames_u8).float() / 127.5 - 1.0).requires_grad_()  # generated faces in [-1, 1]
    mel = syncnet_mel(make_audio(SHORT_SAMPLES, SHORT_SEED))
    sync_audio = torch.from_numpy(np.stack([syncnet_mel_window(mel, int(i))[0] for i in ref["mel_window_frames"]]))
    loss = loss_fn(frames, sync_audio.float())
    expected = torch.nn.BCELoss()(ref["cosine"].float()[:, None], torch.ones(2, 1))  # train_unet.py's cosine_loss
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-6)
    loss.backward()
    assert frames.grad.abs().sum() > 0 and frames.grad[:, :, :, :128].abs().sum() == 0  # only the lower half counts
    with pytest.raises(ValueError, match="data.audio_kind=latentsync_mel"):
        loss_fn(frames, torch.zeros(2, 80, 64))  # a 100 Hz mel window


def test_data_modules_cut_latentsync_windows(shard_dir):
    dm = SyncPairDataModule(str(shard_dir), batch_size=4, num_workers=0, batches_per_epoch=1, audio_kind="latentsync_mel",
                            windows_per_clip=2, shuffle_buffer=4, val_windows_per_clip=2, max_offset=4)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (4, 16, 3, 32, 64) and batch["audio"].shape == (4, 80, 52)
    val = next(iter(dm.val_dataloader()))  # context: ceil(80 x 8 / 25) columns of shifts + one window
    assert val["audio_context"].shape[1:] == (80, 26 + 52) and val["audio_context_offsets"].shape[1:] == (9,)
    unet = UNetWindowDataModule(str(shard_dir), batch_size=2, num_workers=0, batches_per_epoch=1,
                                audio_kind="latentsync_mel", shuffle_buffer=2, val_max_windows=2,
                                audio_inputs={"target": "lipsync_train.networks.whisper_encoder.WhisperWindowInputs"})
    unet.setup("fit")
    assert next(iter(unet.train_dataloader()))["sync_audio"].shape == (2, 80, 52)


def _module(init_from, loss: str = "cosine_bce") -> SyncNetLitModule:
    return SyncNetLitModule(tiny_net(seed=1), optimizer=torch.optim.AdamW, loss=loss, init_from=str(init_from))


def test_init_from_loads_strictly_and_names_leftovers(tiny_ckpt, tmp_path):
    module = _module(tiny_ckpt)
    want = torch.load(tiny_ckpt, weights_only=True)["state_dict"]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in want.items())
    assert module.init_window["audio_kind"] == "latentsync_mel" and not hasattr(module, "logit_scale")
    broken = torch.load(tiny_ckpt, weights_only=True)
    broken["state_dict"]["net.visual_encoder.extra.weight"] = torch.zeros(1)
    broken["state_dict"]["temperature"] = torch.zeros(1)
    del broken["state_dict"]["net.audio_encoder.norm_out.bias"]
    torch.save(broken, tmp_path / "broken.ckpt")
    with pytest.raises(KeyError) as err:
        _module(tmp_path / "broken.ckpt")
    for key in ("visual_encoder.extra.weight", "temperature", "audio_encoder.norm_out.bias", "broken.ckpt"):
        assert key in str(err.value)
    with pytest.raises(ValueError, match="cosine_bce.*StableSyncNet"):
        SyncNetLitModule(StableSyncNet(), optimizer=torch.optim.AdamW, loss="cosine_bce")


def test_init_from_refuses_data_of_another_window_format(tiny_ckpt):
    module = _module(tiny_ckpt)
    module.trainer = SimpleNamespace(datamodule=SimpleNamespace(spec=WindowSpec(16, 64, audio_kind="latentsync_mel")))
    module.setup("fit")  # the converter's window: fine
    module.trainer = SimpleNamespace(datamodule=SimpleNamespace(spec=WindowSpec(16, 64, audio_kind="mel")))
    with pytest.raises(ValueError, match=r"audio_kind.*'latentsync_mel', 'mel'"):
        module.setup("fit")


def test_recipe_composes_and_validates(tmp_path):
    cfg = compose_train(["experiment=latentsync_syncnet_ar_finetune", f"data.shards={tmp_path}",
                         f"paths.output_dir={tmp_path}", f"model.init_from={tmp_path / 'syncnet.ckpt'}", "logger=csv"])
    validate_targets(cfg, PASSED_IN)
    assert (cfg.data.audio_kind, cfg.data.n_frames, cfg.data.image_size, cfg.data.crop) == \
        ("latentsync_mel", 16, 256, "lower_half")
    assert cfg.model.loss == "cosine_bce" and cfg.model.optimizer.lr == 1e-5 and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.gradient_clip_val == 1.0
