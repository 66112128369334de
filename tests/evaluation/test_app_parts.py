"""Parts of ``lipsync-app`` without a browser: one generation at a time, progress, and which checkpoints it offers.

The queue test serves the real page (:func:`evaluation.app.ui.build_app`) in
this process with a stand-in generator that records when each request runs,
then sends two requests at once through gradio_client: they must not overlap.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client

from evaluation.app.checkpoints import PipelineCache, find_unet_checkpoints
from evaluation.app.cli import free_port, launch
from evaluation.app.generate import AppResult, FrameProgress, Settings
from evaluation.app.inputs import UserError
from evaluation.app.ui import build_app
from tests.helpers.latentsync_syncnet_helpers import tiny_net, write_syncnet_ckpt
from tests.helpers.unet_helpers import write_latentsync_checkpoint, write_unet_checkpoint


class SlowGenerator:
    """Stands in for AppGenerator: sleeps, reports progress, records (start, end) of every call."""

    def __init__(self, video: Path):
        self.video, self.calls, self.lock = video, [], threading.Lock()

    def __call__(self, face, audio, text, lang, voice, ckpt, settings, report):
        start = time.monotonic()
        report(0.5, "half way")
        time.sleep(1.5)
        with self.lock:
            self.calls.append((start, time.monotonic()))
        return AppResult(self.video, {}, {"text": text})


def test_two_requests_at_once_run_one_after_the_other(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # no version check from an offline machine
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00" * 16)  # never decoded: the test reads the timing, not the video
    gen = SlowGenerator(video)
    app = build_app(gen, lambda: [], Settings())
    port = free_port()
    launch(app, "127.0.0.1", port, [str(tmp_path)])
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        args = [None, None, None, "", "en", "espeak", "x.ckpt", 2, 1.5, 0]
        jobs = [client.submit(*args[:3], f"request {i}", *args[4:], api_name="/generate") for i in range(2)]
        results = [job.result(timeout=60) for job in jobs]
    finally:
        app.close()
    assert sorted(r[2]["text"] for r in results) == ["request 0", "request 1"]
    (s0, e0), (s1, e1) = sorted(gen.calls)
    assert s1 >= e0, f"the second request started {e0 - s1:.2f} s before the first ended"


def test_frame_progress_reports_fractions_of_the_frames():
    seen = []
    progress = FrameProgress(40, lambda f, t: seen.append((f, t)))
    progress.update(16)
    progress.update(24)
    assert seen == [(0.4, "generating frames 16/40"), (1.0, "generating frames 40/40")]


def test_checkpoints_of_both_kinds_are_offered_and_a_syncnet_is_refused(tmp_path):
    runs = tmp_path / "runs"
    (runs / "a" / "checkpoints").mkdir(parents=True)
    (runs / "ls").mkdir()
    ours = write_unet_checkpoint(runs / "a" / "checkpoints" / "last.ckpt")
    converted = write_latentsync_checkpoint(runs / "ls" / "unet.ckpt")
    expert = write_syncnet_ckpt(runs / "ls" / "syncnet.ckpt", tiny_net(), 64)
    (runs / "notes.ckpt").write_text("not a checkpoint")
    given = str(tmp_path / "given.ckpt")
    assert find_unet_checkpoints(runs, [given]) == [given, ours, converted]
    cache = PipelineCache()
    assert cache.get(converted).image_size == 64 and cache.get(ours).image_size == 32
    with pytest.raises(UserError, match="syncnet.ckpt is not a lip-sync UNet checkpoint"):
        cache.get(str(expert))
    with pytest.raises(UserError, match="notes.ckpt could not be loaded"):
        cache.get(str(runs / "notes.ckpt"))


def test_result_is_scored_by_the_expert_and_by_syncnet_v2_weights(tmp_path):
    """Both judges of the app on one talking-photo video: numbers from each, and the table names both."""
    import numpy as np
    import torch

    from data_prep.media import write_video
    from data_prep.synth.face_rig import face_photo
    from evaluation.app.scores import ResultScorer, scores_markdown
    from evaluation.syncnet_loader import build_syncnet_v2

    torch.manual_seed(0)
    torch.save(build_syncnet_v2().state_dict(), tmp_path / "syncnet_v2.model")  # random weights, official layout
    # syncnet_python's tracker keeps faces over 100 px in tracks over 100 frames: the photo at 768 px for 4.4 s
    import cv2

    photo = cv2.resize(face_photo(), (768, 768), interpolation=cv2.INTER_CUBIC)
    audio = (np.random.default_rng(0).standard_normal(640 * 110) * 3000).astype(np.int16)
    video = write_video(tmp_path / "talk.mp4", [photo] * 110, 768, 768, audio)
    scorer = ResultScorer(str(write_syncnet_ckpt(tmp_path / "expert.ckpt", tiny_net(), 64)),
                          str(tmp_path / "syncnet_v2.model"))
    scores = scorer.score(video, audio)
    assert set(scores) == {"expert", "syncnet_v2"}
    for judge in scores.values():
        assert "lse_c" in judge, scores
        assert np.isfinite(judge["lse_c"]) and np.isfinite(judge["lse_d"]) and abs(judge["offset"]) <= 15
    table = scores_markdown(scores)
    assert "| expert |" in table and "| syncnet_v2 |" in table
