"""Speed and memory of the diffusion UNet recipe: training steps/s + peak memory, inference frames/s.

    .venv/bin/python benchmarks/bench_unet.py                      # tiny recipe on CPU, fake 64 px shards
    .venv/bin/python benchmarks/bench_unet.py --steps 20 --infer-frames 64 --num-steps 20
    .venv/bin/python benchmarks/bench_unet.py --precision bf16-mixed

Training runs the real ``experiment=unet_tiny`` config through ``lipsync_train.train``
(data loading, VAE encode, Whisper, UNet, SyncNet loss on the decoded estimate,
EMA) with the VAE warm-up switched off so every timed step is a UNet step; the
first ``--skip`` steps are not timed. Peak memory is the process's peak RSS on
CPU (``torch.cuda.max_memory_allocated`` on a GPU). Inference times
``LipSyncPipeline.generate`` (aligned faces in, DDIM with guidance) and the
whole ``lipsync_video`` (alignment, paste-back, mp4 writing and muxing;
face tracking excluded) on the trained checkpoint.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from lipsync_train.launch.config_schema import register_configs
from data_prep.window_spec import WindowSpec
from lipsync_train.inference.pipeline import LipSyncPipeline
from lipsync_train.inference.video import lipsync_video
from lipsync_train.networks import StableSyncNet
from lipsync_train.train import CONF_DIR, train

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.helpers.fake_shards, benchmarks.bench_unet
from tests.helpers.fake_shards import write_fake_shards  # noqa: E402


class StepTimer(pl.Callback):
    """Append the wall time at the end of every training step to ``path`` (JSON list)."""

    def __init__(self, path: str):
        self.path, self.times = path, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.times.append(time.perf_counter())
        Path(self.path).write_text(json.dumps(self.times))


def random_expert(path: Path, n_frames: int = 16, image_size: int = 64) -> Path:
    net = StableSyncNet(n_frames=n_frames, image_size=image_size, embed_dim=128, video_channels=[24, 48, 96, 192],
                        audio_channels=[16, 32, 64, 128])
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    state.update(logit_scale=torch.tensor(2.3), logit_bias=torch.tensor(-5.0))
    torch.save({"state_dict": state, "sync_net": {
        "target": "lipsync_train.networks.stable_syncnet.StableSyncNet", "kwargs": net.init_kwargs,
        "distance_kind": "cosine", "window": asdict(WindowSpec(n_frames, image_size)), "state_prefix": "net."}}, path)
    return path


def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_training(tmp: Path, args) -> str:
    shards = write_fake_shards(tmp / "shards", shards={"train": 2, "val": 1}, clips_per_shard=3, n_frames=60, size=64)
    expert = Path(args.syncnet_ckpt) if args.syncnet_ckpt else random_expert(tmp / "expert.ckpt")
    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            "experiment=unet_tiny", f"data.shards={shards}", f"model.syncnet_ckpt={expert}",
            f"paths.output_dir={tmp / 'run'}", "logger=csv", "model.vae_warmup_steps=0", "validate=false",
            f"trainer.max_steps={args.steps + args.skip}", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "callbacks.last_checkpoint.every_n_train_steps=100000",
            f"data.batches_per_epoch={args.steps + args.skip + 1}", f"trainer.precision={args.precision}"])
    times_file = tmp / "step_times.json"
    with open_dict(cfg):
        cfg.pop("hydra", None)
        cfg.callbacks.timer = {"_target_": "benchmarks.bench_unet.StepTimer", "path": str(times_file)}
    summary = train(cfg)
    times = json.loads(times_file.read_text())[args.skip:]
    rate = (len(times) - 1) / (times[-1] - times[0])
    b, t = cfg.data.batch_size, cfg.data.n_frames
    args.ckpt = summary["last_checkpoint"]
    return (f"train  unet_tiny  batch {b} x {t} frames @ {cfg.model.image_size} px, {args.precision}: "
            f"{rate:.3f} steps/s ({rate * b * t:.1f} frames/s), peak memory {peak_memory_mb():.0f} MiB")


def bench_inference(tmp: Path, args) -> list[str]:
    pipe = LipSyncPipeline.from_checkpoint(args.ckpt)
    n, s = args.infer_frames, pipe.image_size
    faces = torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8)
    tokens = pipe.audio_encoder.clip_features(np.zeros(640 * n, np.int16))
    start = time.perf_counter()
    pipe.generate(faces, faces, tokens, num_steps=args.num_steps, guidance_scale=1.5, chunk_frames=16)
    gen_fps = n / (time.perf_counter() - start)
    frames = np.random.default_rng(0).integers(0, 255, (25, 360, 480, 3), dtype=np.uint8)
    affines = np.stack([np.array([[0.4, 0, -64], [0, 0.4, -20]], np.float32)] * 25)
    audio = (np.random.default_rng(1).standard_normal(640 * n) * 3000).astype(np.int16)
    result = lipsync_video(pipe, frames, audio, tmp / "out.mp4", affines=affines, num_steps=args.num_steps)
    return [f"infer  generate (aligned {s} px, DDIM {args.num_steps} steps, CFG 1.5, chunks of 16): {gen_fps:.2f} frames/s",
            f"infer  lipsync_video 480x360 source (paste-back + mp4 + mux, no tracking): {result.fps:.2f} frames/s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--skip", type=int, default=2, help="untimed warm-up steps")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--syncnet-ckpt", default=None, help="a SyncNet expert checkpoint (default: a random one)")
    parser.add_argument("--infer-frames", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=20, help="DDIM steps at inference")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        lines = [bench_training(Path(tmp), args), *bench_inference(Path(tmp), args)]
    print(f"torch threads {torch.get_num_threads()}, device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
