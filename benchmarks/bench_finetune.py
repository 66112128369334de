"""Fine-tune step time and peak memory of LatentSync's UNet in this project's training module (issue 15).

    python benchmarks/bench_finetune.py --size tiny --steps 6                 # CPU, small LatentSync config
    python benchmarks/bench_finetune.py --size 256 --device cuda --steps 20   # LatentSync 1.5's UNet, random weights
    python benchmarks/bench_finetune.py --size 512 --device cuda --steps 20   # LatentSync 1.6's

Each run builds the parts a converted checkpoint holds (``lipsync-convert-weights``) with random weights
(``tiny``: the parity fixtures' small UNet config, a small VAE and Whisper; ``256`` / ``512``:
conf/latentsync/unet.yaml, the SD VAE's config, Whisper-tiny's), writes them as a UNet checkpoint and
trains ``LipSyncDiffusionModule`` from it exactly as ``experiment=latentsync_ar_finetune`` does (motion
modules and attentions trainable, mixed noise, LPIPS-VGG on the decoded lower half, gradient checkpointing,
bf16 autocast on CUDA), on synthetic 16-frame windows, batch 1. Prints steps/s, seconds per step and peak
memory (CUDA: max allocated; CPU: max RSS of the process). The SyncNet loss is left out (it needs an
expert checkpoint); its cost is one StableSyncNet forward/backward on 16 frames.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lipsync_train.modules.unet_module import LipSyncDiffusionModule  # noqa: E402
from tests.helpers.unet_helpers import write_latentsync_checkpoint  # noqa: E402

def build_checkpoint(size: str, path: Path) -> int:
    """Random parts in the layout of a converted checkpoint -> ``path``; returns the image size."""
    image = 64 if size == "tiny" else int(size)
    write_latentsync_checkpoint(path, image, full_size=size != "tiny")
    return image


def synthetic_batch(module: LipSyncDiffusionModule, image: int, frames: int = 16) -> dict:
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(640 * (frames + 8)) * 3000).astype(np.int16)
    inputs = module.audio_encoder.window_inputs()(audio, frames + 8, 4, frames, None)
    video = torch.from_numpy(rng.integers(0, 255, (1, frames, 3, image, image), dtype=np.uint8))
    batch = {"key": ["bench"], "video": video, "reference": video.roll(8, dims=1),
             "sync_audio": torch.zeros(1, 80, 52)}
    batch.update({k: torch.as_tensor(np.asarray(v))[None] for k, v in inputs.items()})
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["tiny", "256", "512"], default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "unet.ckpt"
        image = build_checkpoint(args.size, ckpt)
        partial = lambda params: torch.optim.AdamW(params, lr=1e-5)  # noqa: E731
        module = LipSyncDiffusionModule(None, None, None, None, partial, init_from=str(ckpt), lpips_weight=0.1,
                                        lpips={"vgg_weights": None, "lin_weights": None}, mixed_noise_alpha=1.0,
                                        audio_dropout=0.0, trainable_modules=["motion_modules\\.", "attentions\\."],
                                        gradient_checkpointing=True)
    module.to(args.device)
    optimizer = torch.optim.AdamW([p for p in module.net.parameters() if p.requires_grad], lr=1e-5)
    batch = {k: v.to(args.device) if torch.is_tensor(v) else v for k, v in synthetic_batch(module, image).items()}
    trainable = sum(p.numel() for p in module.net.parameters() if p.requires_grad)
    total = sum(p.numel() for p in module.net.parameters())
    cuda = args.device.startswith("cuda")
    times = []
    for step in range(args.warmup + args.steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = module.diffusion_losses(batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() / 2**30 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    print(f"| size | device | UNet params (trainable) | s/step (median of {args.steps}) | steps/s | peak memory GiB |")
    print("|---|---|---|---|---|---|")
    med = float(np.median(times))
    print(f"| {args.size} ({image} px, 16 frames, batch 1) | {args.device} | {total / 1e6:.1f}M ({trainable / 1e6:.1f}M) "
          f"| {med:.3f} | {1 / med:.3f} | {peak:.2f} {'(allocated)' if cuda else '(max RSS)'} |")


if __name__ == "__main__":
    main()
