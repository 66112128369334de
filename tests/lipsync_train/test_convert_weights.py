"""lipsync-convert-weights on LatentSync-format checkpoints written by LatentSync's own code (small configs).

The source folder is laid out like the hub repo from the parity fixtures (``latentsync_unet.pt``,
``stable_syncnet.pt``, ``whisper/tiny.pt``, every tensor perturbed); the converted checkpoints must
reproduce LatentSync's outputs through the entry points other tools call: ``LipSyncPipeline.from_checkpoint``
and its ``.net(...)`` / ``.audio_encoder.clip_features(...)``, and ``load_sync_scorer(...).net``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lipsync_train.convert_weights import main, parse_args
from lipsync_train.inference.pipeline import LipSyncPipeline
from lipsync_train.networks.sync_scorer import load_sync_scorer
from tests.helpers.latentsync_inputs import FIXTURES, SHORT_SAMPLES, SHORT_SEED, assert_close, make_audio, make_frames


def write_tiny_vae(folder: Path) -> Path:
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    AutoencoderKL(block_out_channels=[8, 16, 16, 16], down_block_types=["DownEncoderBlock2D"] * 4,
                  up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=8, latent_channels=4).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def unet_fixture():
    return torch.load(FIXTURES / "unet_small.pt", weights_only=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory, unet_fixture) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("latentsync")
    src = root / "LatentSync-1.5"
    (src / "whisper").mkdir(parents=True)
    torch.save(unet_fixture["checkpoint"], src / "latentsync_unet.pt")
    shutil.copy(FIXTURES / "stable_syncnet_small.pt", src / "stable_syncnet.pt")
    shutil.copy(FIXTURES / "whisper_small.pt", src / "whisper" / "tiny.pt")
    unet_cfg = root / "unet.yaml"
    unet_cfg.write_text(yaml.safe_dump({"model": dict(unet_fixture["config"])}))
    return {"src": src, "vae": write_tiny_vae(root / "vae"), "unet_config": unet_cfg,
            "syncnet_config": FIXTURES / "syncnet_small.yaml", "root": root}


def convert_args(source: dict[str, Path], out: Path, src: Path | None = None) -> list[str]:
    return ["latentsync", f"src={src or source['src']}", f"out={out}", "resolution=256", f"vae={source['vae']}",
            f"unet_config={source['unet_config']}", f"syncnet_config={source['syncnet_config']}"]


@pytest.fixture(scope="module")
def converted(source) -> Path:
    out = source["root"] / "converted"
    main(convert_args(source, out))
    return out


def test_converted_unet_reproduces_latentsync_through_the_pipeline(converted, unet_fixture):
    pipe = LipSyncPipeline.from_checkpoint(converted / "unet.ckpt")
    case = unet_fixture["cases"]["cfg_bf"]  # (B=2, 13, F, h, w), audio (B*F, 50, D) in (b f) order
    sample = case["sample"].float()
    b, _, f = sample.shape[:3]
    frames = sample.permute(0, 2, 1, 3, 4).flatten(0, 1)  # (B*F, 13, h, w), LatentSync's channel order
    noisy, mask, masked, reference = frames[:, :4], frames[:, 4:5], frames[:, 5:9], frames[:, 9:]
    timesteps = torch.as_tensor(case["timestep"]).reshape(-1).repeat_interleave(f)  # one per frame
    with torch.no_grad():
        out = pipe.net(noisy, mask, masked, reference, timesteps, case["encoder_hidden_states"].float(), num_frames=f)
    ref = case["output"].permute(0, 2, 1, 3, 4).flatten(0, 1)
    assert out.shape == ref.shape
    assert_close(out, ref, "converted UNet vs LatentSync")
    assert pipe.defaults == {"num_steps": 20, "guidance_scale": 1.5, "chunk_frames": 16, "face_template": "latentsync"}
    assert pipe.face_template == "latentsync"
    assert pipe.latent_mask.shape[-1] == 256 // pipe.vae.downsample


def test_converted_scheduler_is_latentsync_ddim(converted):
    """Inference samples with LatentSync's DDIM (its configs/scheduler_config.json, a fixture copied by
    tools/fixtures/copy_latentsync_scheduler.py) and training predicts epsilon, as LatentSync's UNet does."""
    from diffusers import DDIMScheduler

    reference = DDIMScheduler.from_config(json.loads((FIXTURES / "scheduler_config.json").read_text()))
    pipe = LipSyncPipeline.from_checkpoint(converted / "unet.ckpt")
    ours = pipe.schedule.sampler(pipe.sampler_name)
    assert type(ours) is DDIMScheduler and pipe.schedule.prediction_type == "epsilon"
    for key in ("prediction_type", "clip_sample", "set_alpha_to_one", "steps_offset", "timestep_spacing",
                "beta_schedule", "beta_start", "beta_end", "num_train_timesteps", "thresholding",
                "rescale_betas_zero_snr"):
        assert ours.config[key] == reference.config[key], key
    assert torch.equal(ours.betas, reference.betas) and ours.final_alpha_cumprod == reference.final_alpha_cumprod
    for steps in (2, 20):
        ours.set_timesteps(steps)
        reference.set_timesteps(steps)
        assert torch.equal(ours.timesteps, reference.timesteps), steps


def test_converted_audio_path_reproduces_latentsync_features(converted):
    pipe = LipSyncPipeline.from_checkpoint(converted / "unet.ckpt")
    audio = make_audio(SHORT_SAMPLES, SHORT_SEED)
    with np.load(FIXTURES / "latentsync_audio.npz") as ref:
        n = int(ref["short_n_chunks"])
        feats = pipe.audio_encoder.clip_features(audio, n)
        assert feats.shape == (n, 50, 64)
        for row, i in enumerate(int(i) for i in ref["short_chunk_frames"]):  # both clip edges included
            assert_close(feats[i], ref["short_chunks"][row], f"frame {i}")


def test_converted_syncnet_loads_as_a_scorer_with_latentsync_outputs(converted):
    scorer = load_sync_scorer(converted / "syncnet.ckpt")
    assert scorer.face_template == "latentsync"  # lipsync-eval's expert_lse tracks faces into LatentSync's crop
    ref = torch.load(FIXTURES / "syncnet_outputs.pt", weights_only=True)
    frames = torch.from_numpy(make_frames(2, 16, 256, seed=3)).float() / 127.5 - 1.0
    stacked = scorer.net.stack_lower_half(frames)  # (2, 48, 128, 256): LatentSync's layout
    with np.load(FIXTURES / "latentsync_audio.npz") as f:
        mel = torch.from_numpy(np.stack([f["syncnet_mel_window_0"], f["syncnet_mel_window_16"]])).float()
    with torch.no_grad():
        assert_close(scorer.net.embed_video(stacked), ref["vision_embeds"], "vision embeddings")
        assert_close(scorer.net.embed_audio(mel), ref["audio_embeds"], "audio embeddings")
    assert scorer.window.audio_kind == "latentsync_mel" and scorer.window.n_frames == 16


def test_report_counts_every_tensor(converted, unet_fixture):
    report = json.loads((converted / "conversion.json").read_text())
    assert report["unet_tensors"] == len(unet_fixture["checkpoint"]["state_dict"])
    assert report["whisper_decoder_tensors_not_used"] > 0 and report["mask_source"].startswith("box")


def test_a_tensor_missing_from_the_source_fails_naming_it(source, tmp_path):
    src = tmp_path / "broken"
    shutil.copytree(source["src"], src)
    ckpt = torch.load(src / "latentsync_unet.pt", weights_only=True)
    dropped = sorted(ckpt["state_dict"])[7]
    del ckpt["state_dict"][dropped]
    torch.save(ckpt, src / "latentsync_unet.pt")
    with pytest.raises(SystemExit, match=dropped.replace(".", r"\.")):
        main(convert_args(source, tmp_path / "out", src))


def test_command_line_contract_and_clear_errors(source, tmp_path):
    assert parse_args(["latentsync", "src=A", "out=B", "resolution=512"]) == (
        "latentsync", {"src": "A", "out": "B", "resolution": 512})
    with pytest.raises(ValueError, match="out= is required"):
        parse_args(["latentsync", "src=A"])
    with pytest.raises(ValueError, match="key one of"):
        parse_args(["latentsync", "src=A", "out=B", "resolutoin=256"])
    proc = subprocess.run([sys.executable, "-m", "lipsync_train.convert_weights", "latentsync",
                           f"src={tmp_path / 'nowhere'}", f"out={tmp_path / 'o'}"], capture_output=True, text=True)
    assert proc.returncode != 0 and "nowhere" in proc.stderr


@pytest.mark.slow
def test_lipsync_infer_runs_on_a_converted_checkpoint(converted, tmp_path):
    """The contract command line on a converted checkpoint: an mp4 of the audio's length with its audio (~90 s)."""
    from data_prep.media import load_audio
    from tests.helpers.video_helpers import face_video

    video = face_video(tmp_path / "face.mp4", seconds=2.0, fps=30, audio="sine")
    out = tmp_path / "dubbed.mp4"
    proc = subprocess.run([sys.executable, "-m", "lipsync_train.infer", f"video={video}", f"audio={video}",
                           f"ckpt={converted / 'unet.ckpt'}", f"out={out}", "num_steps=2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True)
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    n_samples = len(load_audio(video))  # 2 s of sine plus the AAC encoder's padding
    assert int(streams["video"]["nb_frames"]) == -(-n_samples // 640) and streams["audio"]["sample_rate"] == "16000"
    assert abs(float(streams["audio"]["duration"]) - n_samples / 16000) < 0.05


def test_lipsync_video_tracks_faces_into_latentsync_crop_for_converted_weights(converted, tmp_path, monkeypatch):
    import lipsync_train.inference.video as video

    asked = []

    def no_face(frames, size, template="mesh"):  # records the crop asked for; no face found, frames pass through
        asked.append((size, template))
        return np.full((len(frames), 2, 3), np.nan, np.float32)

    monkeypatch.setattr(video, "track_affines", no_face)
    pipe = LipSyncPipeline.from_checkpoint(converted / "unet.ckpt")
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    audio = np.zeros(3 * 640, np.int16)
    video.lipsync_video(pipe, frames, audio, tmp_path / "a.mp4", num_steps=1)
    video.lipsync_video(pipe, frames, audio, tmp_path / "b.mp4", num_steps=1, face_template="mesh")
    assert asked == [(256, "latentsync"), (256, "mesh")]
