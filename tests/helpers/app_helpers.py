"""Shared setup of the web-app tests: tiny checkpoints, a face photo, and ``lipsync-app`` running in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from tests.helpers.latentsync_syncnet_helpers import tiny_net, write_syncnet_ckpt
from tests.helpers.unet_helpers import write_unet_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def write_app_inputs(root: Path) -> dict[str, Path]:
    """A tiny UNet under ``root/runs``, a tiny StableSyncNet expert, the astronaut photo, a faceless image and an
    'audio' file that does not decode."""
    from data_prep.synth.face_rig import face_photo

    (root / "runs" / "unet" / "checkpoints").mkdir(parents=True, exist_ok=True)
    files = {"unet": Path(write_unet_checkpoint(root / "runs" / "unet" / "checkpoints" / "last.ckpt")),
             "expert": write_syncnet_ckpt(root / "expert.ckpt", tiny_net(), 64),
             "face": root / "face.png", "blank": root / "blank.png", "bad_audio": root / "bad.wav"}
    cv2.imwrite(str(files["face"]), face_photo()[:, :, ::-1])
    cv2.imwrite(str(files["blank"]), np.full((256, 256, 3), 128, np.uint8))
    files["bad_audio"].write_bytes(b"RIFF....WAVE but not audio" * 40)
    return files


@contextmanager
def running_app(root: Path, files: dict[str, Path], *overrides: str, timeout: float = 300.0) -> Iterator[str]:
    """``lipsync-app`` on a free port (offline: HF_HUB_OFFLINE=1), yielding its URL; stopped (by its pid) after.

    ``overrides`` are more ``key=value`` settings of ``conf/app.yaml``."""
    from evaluation.app.cli import free_port

    port = free_port()
    log = root / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(root)}
    cmd = [sys.executable, "-m", "evaluation.app.cli", f"ckpt={files['unet']}", f"runs={root / 'runs'}",
           f"expert_ckpt={files['expert']}", f"port={port}", f"out_dir={root / 'out'}", *overrides]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while "serving on" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lipsync-app did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
