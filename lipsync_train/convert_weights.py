"""``lipsync-convert-weights``: LatentSync's released checkpoints -> this project's UNet and SyncNet checkpoints.

    lipsync-convert-weights latentsync src=ByteDance/LatentSync-1.5 out=weights/latentsync-1.5
    lipsync-convert-weights latentsync src=ByteDance/LatentSync-1.6 out=weights/latentsync-1.6 resolution=512
    lipsync-convert-weights latentsync src=DIR out=OUT resolution=256 vae=VAE_DIR mask=latentsync/utils/mask.png
    lipsync-convert-weights latentsync src=DIR out=OUT unet_config=stage2_efficient.yaml   # another UNet variant

``src``: a folder laid out like the hub repo (``latentsync_unet.pt``, ``stable_syncnet.pt``,
``whisper/tiny.pt``) or the hub id itself; ``vae``: a diffusers AutoencoderKL folder or hub id
(default ``stabilityai/sd-vae-ft-mse``); ``mask``: LatentSync's ``latentsync/utils/mask.png`` (from
its GitHub repository; white = kept), without which the model's mask is this project's box and the
report says so. Hub ids download once into the Hugging Face cache (``data_prep/pretrained.py``).

``OUT/unet.ckpt`` is a UNet checkpoint like ``lipsync-train``'s (``lipsync-infer ckpt=``,
``model.init_from=``, ``LipSyncPipeline.from_checkpoint``): LatentSync's UNet behind our denoiser
interface (``networks/latentsync_denoiser.py``), the VAE, LatentSync's Whisper audio path
(``networks/whisper_frames.py``), its DDIM schedule and inference defaults (20 steps, guidance 1.5,
16-frame chunks). ``OUT/syncnet.ckpt`` is a SyncNet checkpoint (``model.syncnet_ckpt=``,
``load_sync_scorer``, ``lipsync-prep sync.ckpt=``, ``lipsync-eval expert_ckpt=``). Every tensor of
every source is loaded strictly: a key left over on either side stops the conversion with its name.
The only tensors not carried over are Whisper's decoder (LatentSync runs the encoder alone); the
report ``OUT/conversion.json`` counts them.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from data_prep import CONF_DIR
from data_prep.mouth_mask import MouthRegion, mouth_mask
from data_prep.pretrained import resolve_pretrained
from lipsync_train.networks.latentsync_denoiser import LatentSyncDenoiser
from lipsync_train.networks.latentsync_syncnet import LatentSyncSyncNet, load_latentsync_syncnet_state
from lipsync_train.networks.latentsync_unet import load_latentsync_unet_state
from lipsync_train.networks.noise_schedule import NoiseSchedule
from lipsync_train.networks.unet_checkpoint import unet_spec
from lipsync_train.networks.vae import FrozenVAE
from lipsync_train.networks.whisper_frames import WhisperFrameEncoder

log = logging.getLogger("lipsync-convert-weights")
SOURCE_FILES = ["latentsync_unet.pt", "stable_syncnet.pt", "whisper/tiny.pt"]
# LatentSync's inference settings, and its face crop (data_prep/face_align.py), which lipsync-infer tracks faces into
DEFAULTS = {"num_steps": 20, "guidance_scale": 1.5, "chunk_frames": 16, "face_template": "latentsync"}
SYNCNET_IMAGE_SIZE = 256  # its StableSyncNet reads 256 px faces (lower half 128 x 256), also for the 512 px UNet


def latentsync_config(name: str, path: str | None = None) -> dict[str, Any]:
    """LatentSync's architecture config ``name`` (conf/latentsync/), or a LatentSync yaml given by path
    (its ``model:`` section or the section itself, e.g. configs/unet/stage2_efficient.yaml)."""
    cfg = OmegaConf.to_container(OmegaConf.load(path or Path(CONF_DIR) / "latentsync" / f"{name}.yaml"), resolve=True)
    return cfg.get("model", cfg)


def load_mask_image(path: str | Path, size: int) -> np.ndarray:
    """LatentSync's mask image (white = kept) -> our (size, size) float32 pixel mask, 1 = regenerated.

    Resized as LatentSync's ``load_fixed_mask`` does (Lanczos, / 255, first channel)."""
    import cv2

    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"mask={str(path)!r}: not a readable image")
    keep = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (size, size), interpolation=cv2.INTER_LANCZOS4) / 255.0
    return (1.0 - keep[:, :, 0]).astype(np.float32)


def _source_file(src: Path, name: str) -> Path:
    path = src / name
    if not path.is_file():
        raise FileNotFoundError(f"src={src}: {name} is missing; expected the layout of the hub repo "
                                f"({', '.join(SOURCE_FILES)})")
    return path


def _load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def convert_latentsync(src: str, out: str, resolution: int = 256, vae: str = "stabilityai/sd-vae-ft-mse",
                       mask: str | None = None, unet_config: str | None = None,
                       syncnet_config: str | None = None) -> dict[str, Any]:
    """Write ``out/unet.ckpt``, ``out/syncnet.ckpt`` and ``out/conversion.json``; returns the report."""
    if resolution not in (256, 512):
        raise ValueError(f"resolution={resolution}: expected 256 (LatentSync 1.5) or 512 (LatentSync 1.6)")
    src_dir = resolve_pretrained(src, "src", SOURCE_FILES)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)

    log.info("UNet: %s", _source_file(src_dir, "latentsync_unet.pt"))
    with torch.device("meta"):  # no 5 GB of random init: the checkpoint's tensors are assigned
        net = LatentSyncDenoiser(latentsync_config("unet", unet_config))
    unet_state = _load(_source_file(src_dir, "latentsync_unet.pt"))
    load_latentsync_unet_state(net.unet, unet_state, assign=True)
    net.float()
    left_on_meta = [k for k, v in net.state_dict().items() if v.is_meta]
    if left_on_meta:
        raise ValueError(f"latentsync_unet.pt: tensors never filled: {left_on_meta[:8]}")

    log.info("Whisper: %s", _source_file(src_dir, "whisper/tiny.pt"))
    whisper_ckpt = _load(_source_file(src_dir, "whisper/tiny.pt"))
    encoder = WhisperFrameEncoder.from_openai_checkpoint(whisper_ckpt)
    decoder_tensors = sum(1 for k in whisper_ckpt["model_state_dict"] if k.startswith("decoder."))

    log.info("VAE: %s", vae)
    frozen_vae = FrozenVAE(pretrained=vae)
    schedule_cfg = {k: v for k, v in latentsync_config("scheduler").items()
                    if k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "steps_offset")}
    schedule = NoiseSchedule(**schedule_cfg, prediction_type="epsilon")
    region = MouthRegion()
    pixel_mask = load_mask_image(mask, resolution) if mask else mouth_mask(resolution, region)
    spec = unet_spec(net, frozen_vae, encoder, schedule, resolution, region, pixel_mask, ema=False, defaults=DEFAULTS)
    state = {**{f"net.{k}": v for k, v in net.state_dict().items()},
             **{f"vae.{k}": v for k, v in frozen_vae.state_dict().items()},
             **{f"audio_encoder.{k}": v for k, v in encoder.state_dict().items()}}
    source = {"src": str(src), "resolution": resolution, "vae": str(vae), "mask": str(mask) if mask else None}
    torch.save({"state_dict": state, "lipsync_unet": spec, "converted_from": source}, out_dir / "unet.ckpt")

    log.info("StableSyncNet: %s", _source_file(src_dir, "stable_syncnet.pt"))
    syncnet = LatentSyncSyncNet.from_latentsync_config(latentsync_config("syncnet", syncnet_config))
    load_latentsync_syncnet_state(syncnet, _load(_source_file(src_dir, "stable_syncnet.pt")))
    window = {"n_frames": 16, "image_size": SYNCNET_IMAGE_SIZE, "crop": "lower_half", "channel_order": "rgb",
              "audio_kind": "latentsync_mel", "n_audio_bins": 80}
    torch.save({"state_dict": {f"net.{k}": v for k, v in syncnet.state_dict().items()},
                "sync_net": {"target": f"{LatentSyncSyncNet.__module__}.LatentSyncSyncNet",
                             "kwargs": syncnet.init_kwargs, "state_prefix": "net.", "window": window,
                             "face_template": "latentsync"},
                "converted_from": source}, out_dir / "syncnet.ckpt")

    report = {**source, "unet_tensors": len(net.state_dict()), "vae_tensors": len(frozen_vae.state_dict()),
              "whisper_encoder_tensors": len(encoder.state_dict()),
              "whisper_decoder_tensors_not_used": decoder_tensors,
              "syncnet_tensors": len(syncnet.state_dict()),
              "mask_source": "image" if mask else "box (give mask=latentsync/utils/mask.png for LatentSync's own)",
              "outputs": {"unet": str(out_dir / "unet.ckpt"), "syncnet": str(out_dir / "syncnet.ckpt")}}
    (out_dir / "conversion.json").write_text(json.dumps(report, indent=2))
    if not mask:
        log.warning("no mask= given: the converted model uses this project's box mask, not LatentSync's mask.png")
    return report


CONVERTERS = {"latentsync": (convert_latentsync,
                              {"src", "out", "resolution", "vae", "mask", "unet_config", "syncnet_config"})}


def parse_args(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """``latentsync src=A out=B resolution=256`` -> ("latentsync", {"src": "A", "out": "B", "resolution": 256})."""
    if not argv or argv[0] not in CONVERTERS:
        raise ValueError(f"usage: lipsync-convert-weights {{{'|'.join(CONVERTERS)}}} src=SRC out=OUT [key=value ...]")
    kind, allowed = argv[0], CONVERTERS[argv[0]][1]
    options: dict[str, Any] = {}
    for arg in argv[1:]:
        key, sep, value = arg.partition("=")
        if not sep or key not in allowed:
            raise ValueError(f"{arg!r}: expected key=value with key one of {sorted(allowed)}")
        options[key] = int(value) if key == "resolution" else value
    for key in ("src", "out"):
        if key not in options:
            raise ValueError(f"{kind}: {key}= is required")
    return kind, options


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        kind, options = parse_args(sys.argv[1:] if argv is None else argv)
        report = CONVERTERS[kind][0](**options)
    except (ValueError, KeyError, FileNotFoundError) as err:
        sys.exit(f"lipsync-convert-weights: {err}")
    print(json.dumps(report["outputs"], indent=2))


if __name__ == "__main__":
    main()
