"""``lipsync-app``: serve the lip-sync web page (Gradio) on a port.

    lipsync-app ckpt=runs/unet_tiny/checkpoints/last.ckpt                     # http://127.0.0.1:7860
    lipsync-app ckpt=weights/latentsync-1.5/unet.ckpt expert_ckpt=runs/syncnet/checkpoints/last.ckpt \\
        syncnet_v2_weights=weights/syncnet_v2.model device=cuda host=0.0.0.0 port=7860
    python -m evaluation.app.cli ...    # the same, without the console script

Settings in ``conf/app.yaml``. The page offers ``ckpt`` and every UNet
checkpoint under ``runs``; the app prints ``serving on http://HOST:PORT`` once
it answers, then serves until it is stopped.
"""

from __future__ import annotations

import logging
import socket

import hydra
from omegaconf import DictConfig

from data_prep import CONF_DIR
from evaluation.app.checkpoints import find_unet_checkpoints
from evaluation.app.generate import AppGenerator, Settings
from evaluation.app.scores import ResultScorer
from evaluation.app.ui import build_app

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_app(cfg: DictConfig):
    """The Gradio app of a resolved ``conf/app.yaml``."""
    scorer = ResultScorer(cfg.expert_ckpt, cfg.syncnet_v2_weights, cfg.device)
    generator = AppGenerator(cfg.out_dir, cfg.device, cfg.use_ema, {"ar": cfg.tts_model_ar, "en": cfg.tts_model_en},
                             scorer, cfg.chunk_frames, cfg.max_seconds)
    given = [str(cfg.ckpt)] if cfg.ckpt else []
    return build_app(generator, lambda: find_unet_checkpoints(cfg.runs, given),
                     Settings(cfg.num_steps, cfg.guidance_scale, cfg.seed), cfg.ckpt)


def launch(app, host: str, port: int, allowed_paths: list[str], attempts: int = 3) -> None:
    """``app.launch`` without blocking, tried again when Gradio's start-up self-check fails.

    Gradio asks its own page once with a 3 s timeout before it reports the server up, and calls a
    timeout "localhost is not accessible"; on a busy machine the first, cold page can take longer.
    The server is then warm, so a second launch on the same port passes.
    """
    for attempt in range(1, attempts + 1):
        try:
            app.launch(server_name=host, server_port=port, prevent_thread_lock=True, ssr_mode=False,
                       show_error=True, quiet=True, allowed_paths=allowed_paths)
            return
        except ValueError as err:
            if "localhost is not accessible" not in str(err) or attempt == attempts:
                raise
            log.warning("Gradio's start-up check timed out (attempt %d of %d); launching again", attempt, attempts)
            app.close()


def serve(cfg: DictConfig, block: bool = True):
    """Launch on ``cfg.host:cfg.port`` (0: a free one); returns the app when ``block`` is False."""
    port = int(cfg.port) or free_port(cfg.host)
    app = make_app(cfg)
    launch(app, cfg.host, port, [str(cfg.out_dir)])
    print(f"serving on http://{cfg.host}:{port}", flush=True)
    if block:
        app.block_thread()
    return app


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="app")
def hydra_main(cfg: DictConfig) -> None:
    serve(cfg)


def main() -> None:
    """Console-script entry point."""
    hydra_main()


if __name__ == "__main__":
    main()
