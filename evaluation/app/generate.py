"""One request of the web app, from its inputs to a video and its scores.

:class:`AppGenerator` holds what outlives a request (the loaded pipeline, the
TTS voices, the scorers, the output folder) and is called once per request by
the page (:mod:`evaluation.app.ui`), which runs one request at a time. The
steps: read the face source and the speech (:mod:`evaluation.app.inputs`),
load the checkpoint's pipeline (:mod:`evaluation.app.checkpoints`), track the
face (none found: a :class:`~evaluation.app.inputs.UserError`), lip-sync with
:func:`~lipsync_train.inference.video.lipsync_video` (a single image gets the
still-photo treatment of :mod:`lipsync_train.inference.still_image`), score the
result (:mod:`evaluation.app.scores`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from data_prep.face_align import track_affines
from data_prep.schema import SAMPLE_RATE, SAMPLES_PER_FRAME
from evaluation.app.checkpoints import PipelineCache
from evaluation.app.inputs import Speech, UserError, read_face_source
from evaluation.app.scores import ResultScorer
from lipsync_train.inference.video import lipsync_video

log = logging.getLogger(__name__)


@dataclass
class Settings:
    """The inference settings a user picks per request."""

    num_steps: int = 20
    guidance_scale: float = 1.5
    seed: int = 0


@dataclass
class AppResult:
    video: Path
    scores: dict[str, dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)


class FrameProgress:
    """Adapts the pipeline's ``update(n_frames)`` calls to a ``report(fraction, text)`` callback (gr.Progress)."""

    def __init__(self, total: int, report: Callable[[float, str], None]):
        self.total, self.done, self.report = max(total, 1), 0, report

    def update(self, n: int) -> None:
        self.done += n
        self.report(min(self.done / self.total, 1.0), f"generating frames {self.done}/{self.total}")


class AppGenerator:
    """Face + speech + checkpoint + settings -> :class:`AppResult` (an mp4 under ``out_dir`` and its LSE)."""

    def __init__(self, out_dir: str | Path, device: str = "cpu", use_ema: bool = True,
                 tts_models: dict[str, str | None] | None = None, scorer: ResultScorer | None = None,
                 chunk_frames: int = 16, max_seconds: float = 60.0):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.pipelines = PipelineCache(device, use_ema)
        self.speech = Speech(tts_models, device)
        self.scorer = scorer or ResultScorer(device=device)
        self.chunk_frames, self.max_seconds = chunk_frames, max_seconds

    def __call__(self, face: str | None, audio: str | None, text: str | None, lang: str, voice: str,
                 ckpt: str | None, settings: Settings,
                 report: Callable[[float, str], None] = lambda f, t: None) -> AppResult:
        t0 = time.perf_counter()
        report(0.0, "reading the inputs")
        frames = read_face_source(face)
        speech, how = self.speech.read(audio, text, lang, voice)
        if len(speech) > self.max_seconds * SAMPLE_RATE:
            raise UserError(f"The speech is {len(speech) / SAMPLE_RATE:.1f} s long; this app takes at most "
                            f"{self.max_seconds:g} s (max_seconds=).")
        report(0.02, "loading the checkpoint")
        pipeline = self.pipelines.get(ckpt)
        report(0.05, "finding the face")
        affines = track_affines(frames, pipeline.image_size, template=pipeline.face_template)
        if not np.isfinite(affines).all(axis=(1, 2)).any():
            what = "image" if len(frames) == 1 else f"video ({len(frames)} frames)"
            raise UserError(f"No face found in the {what}: give a photo or video with one clearly visible face.")
        out = self.out_dir / f"lipsync-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.mp4"
        n_out = -(-len(speech) // SAMPLES_PER_FRAME)
        progress = FrameProgress(n_out, lambda f, t: report(0.08 + 0.8 * f, t))
        result = lipsync_video(pipeline, frames, speech, out, affines=affines, num_steps=int(settings.num_steps),
                               guidance_scale=float(settings.guidance_scale), chunk_frames=self.chunk_frames,
                               seed=int(settings.seed), progress=progress)
        report(0.9, "scoring the result")
        scores = self.scorer.score(result.out, speech)
        info = {"speech": how, "seconds_of_speech": round(len(speech) / SAMPLE_RATE, 2), "frames": result.n_frames,
                "frames_without_face": result.frames_without_face, "wall_s": round(time.perf_counter() - t0, 1)}
        log.info("generated %s: %s", out, info)
        return AppResult(result.out, scores, info)
