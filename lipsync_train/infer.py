"""Lip-sync a video (or a face image) to audio (or text): the ``lipsync-infer`` console script.

    lipsync-infer video=FILE audio=FILE ckpt=FILE out=FILE
    lipsync-infer image=FACE.png 'text="مرحبا"' ckpt=FILE out=OUT.mp4 num_steps=30 guidance_scale=2   # Hydra: quote Arabic
    lipsync-infer image=FACE.png text="Hello there" lang=en tts=espeak ckpt=FILE out=OUT.mp4
    python -m lipsync_train.infer ...      # the same, without the console script

Text is spoken through :func:`data_prep.tts.make_tts`: ``tts=auto|mms|espeak`` (auto: MMS-TTS when
its weights resolve, else espeak-ng), ``lang=ar|en``, ``tts_model`` (an MMS hub id or folder; default
by language) and ``voice`` (the espeak-ng voice; default by language).

A thin orchestrator over ``lipsync_train.inference``: read the inputs, load the
pipeline from the checkpoint, run :func:`~lipsync_train.inference.video.lipsync_video`,
print the output path and how many frames had no face (passed through unchanged).
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from data_prep import CONF_DIR
from data_prep.media import load_audio, read_frames
from data_prep.tts import make_tts
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
    audio = load_audio(cfg.audio) if cfg.audio else speak_text(cfg)
    pipeline = LipSyncPipeline.from_checkpoint(cfg.ckpt, use_ema=cfg.use_ema, sampler=cfg.sampler, device=cfg.device)
    result = lipsync_video(pipeline, frames, audio, cfg.out, num_steps=cfg.num_steps,
                           guidance_scale=cfg.guidance_scale, chunk_frames=cfg.chunk_frames, loop=cfg.loop,
                           seed=cfg.seed, feather=cfg.feather, still_fit=cfg.get("still_fit", True),
                           still_motion=cfg.get("still_motion", True), reference=cfg.reference,
                           face_template=cfg.get("face_template"))
    print(f"wrote {result.out}: {result.n_frames} frames, {result.frames_without_face} without a face "
          f"(passed through), {result.fps:.2f} frames/s")
    return result


def speak_text(cfg: DictConfig):
    """``cfg.text`` -> int16 16 kHz speech through the configured TTS backend and language."""
    tts = make_tts(cfg.get("tts", "auto"), lang=cfg.get("lang", "ar"), model=cfg.get("tts_model"),
                   voice=cfg.get("voice"), device=cfg.get("device", "cpu"))
    log.info("speaking the text with %s (lang=%s)", tts.name, tts.lang)
    return tts.speak(str(cfg.text))


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="infer")
def hydra_main(cfg: DictConfig) -> None:
    run_inference(cfg)


def main() -> None:
    """Console-script entry point."""
    hydra_main()


if __name__ == "__main__":
    main()
