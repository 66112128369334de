"""Lip-sync a video (or a face image) to audio (or Arabic text): the ``lipsync-infer`` console script.

    lipsync-infer video=FILE audio=FILE ckpt=FILE out=FILE
    lipsync-infer image=FACE.png text="مرحبا" ckpt=FILE out=OUT.mp4 num_steps=30 guidance_scale=2
    python -m lipsync_train.infer ...      # the same, without the console script

A thin orchestrator over ``lipsync_train.inference``: read the inputs, load the
pipeline from the checkpoint, run :func:`~lipsync_train.inference.video.lipsync_video`,
print the output path and how many frames had no face (passed through unchanged).
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from data_prep import CONF_DIR
from data_prep.media import load_audio, read_frames, speak_arabic
from lipsync_train.inference.pipeline import LipSyncPipeline
from lipsync_train.inference.video import LipSyncResult, lipsync_video

log = logging.getLogger(__name__)


def run_inference(cfg: DictConfig) -> LipSyncResult:
    """Validate the source / audio choices, then generate ``cfg.out``."""
    if bool(cfg.video) == bool(cfg.image):
        raise ValueError("give exactly one of video=FILE or image=FILE")
    if bool(cfg.audio) == bool(cfg.text):
        raise ValueError('give exactly one of audio=FILE or text="..."')
    frames = read_frames(cfg.video or cfg.image)
    audio = load_audio(cfg.audio) if cfg.audio else speak_arabic(str(cfg.text), voice=cfg.voice)
    pipeline = LipSyncPipeline.from_checkpoint(cfg.ckpt, use_ema=cfg.use_ema, sampler=cfg.sampler, device=cfg.device)
    result = lipsync_video(pipeline, frames, audio, cfg.out, num_steps=cfg.num_steps,
                           guidance_scale=cfg.guidance_scale, chunk_frames=cfg.chunk_frames, loop=cfg.loop,
                           seed=cfg.seed, feather=cfg.feather)
    print(f"wrote {result.out}: {result.n_frames} frames, {result.frames_without_face} without a face "
          f"(passed through), {result.fps:.2f} frames/s")
    return result


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="infer")
def hydra_main(cfg: DictConfig) -> None:
    run_inference(cfg)


def main() -> None:
    """Console-script entry point."""
    hydra_main()


if __name__ == "__main__":
    main()
