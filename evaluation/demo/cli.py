"""``lipsync-demo out_dir=DIR``: generate data, write shards, train the expert and the UNet, lip-sync, score.

    lipsync-demo out_dir=runs/demo                          # everything (~10 min on a 2-core CPU)
    lipsync-demo out_dir=runs/demo stages=[score,report]    # run these stages again
    lipsync-demo out_dir=runs/demo unet.max_steps=1500      # a longer UNet: it and the stages after it re-run
    lipsync-demo out_dir=runs/demo score.inception_weights=W score.syncnet_v2_weights=V

Settings: ``conf/demo.yaml``. A second run reuses every finished stage whose
settings did not change (:mod:`evaluation.demo.runner`); the stages are in
:mod:`evaluation.demo.stages`. Prints the summary table at the end; the
numbers are in ``DIR/results.json``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from data_prep import CONF_DIR

log = logging.getLogger("lipsync-demo")
SECTIONS = {"data": ["n_speakers", "videos_per_speaker", "sentences_per_video", "n_broken", "workers"],
            "shards": ["workers", "max_samples", "sync_ckpt", "overrides"], "syncnet": ["max_steps", "overrides"],
            "judge": ["max_steps", "overrides"],
            "unet": ["max_steps", "overrides"], "generate": ["text", "voice", "num_steps", "guidance_scale"],
            "score": ["syncnet_v2_weights", "inception_weights", "sync_margin_clips", "sync_margin_frames",
                      "fid_max_frames", "eval_overrides"]}


def check_config(cfg: dict) -> None:
    """Misspelt or missing keys stop the demo before any work, naming the field."""
    for section, keys in SECTIONS.items():
        given = cfg.get(section)
        if not isinstance(given, dict):
            raise ValueError(f"{section}: expected a mapping with keys {keys}")
        unknown = sorted(set(given) - set(keys))
        missing = sorted(set(keys) - set(given))
        if unknown or missing:
            raise ValueError(f"{section}: unknown keys {unknown}, missing keys {missing}; expected {keys}")
    for section in ("syncnet", "judge", "unet"):
        if int(cfg[section]["max_steps"]) < 1:
            raise ValueError(f"{section}.max_steps: expected >= 1, got {cfg[section]['max_steps']}")
    for key in ("syncnet_v2_weights", "inception_weights"):
        path = cfg["score"][key]
        if path and not str(path).startswith(("http://", "https://")) and not Path(path).is_file():
            raise FileNotFoundError(f"score.{key}: {path} does not exist")


def run_demo(cfg: dict) -> dict:
    """Run (or reuse) the stages a config asks for -> the results.json payload."""
    from evaluation.demo.runner import STAGES, StageRunner, selected_stages
    from evaluation.demo.stages import DemoStages

    check_config(cfg)
    wanted = selected_stages(cfg["stages"])
    out_dir = Path(cfg["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "demo_config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    settings = {name: cfg.get(name) for name in STAGES}
    settings.update({"data": {**cfg["data"], "seed": cfg["seed"]},
                     "syncnet": {**cfg["syncnet"], "seed": cfg["seed"], "logger": cfg["logger"]},
                     "judge": {**cfg["judge"], "seed": cfg["seed"], "logger": cfg["logger"]},
                     "unet": {**cfg["unet"], "seed": cfg["seed"], "logger": cfg["logger"]}})
    rerun = [] if cfg["stages"] in (None, "all") else wanted
    until = max(wanted, key=STAGES.index)
    StageRunner(out_dir, settings, rerun).run(DemoStages(cfg, out_dir).functions(), until)
    results_path = out_dir / "results.json"
    return json.loads(results_path.read_text()) if results_path.is_file() else {}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="demo")
def hydra_main(cfg: DictConfig) -> None:
    from evaluation.demo.outputs import acceptance_lines, summary_table

    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    data["out_dir"] = to_absolute_path(str(data["out_dir"]))
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe model-load chatter
    try:
        results = run_demo(data)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        sys.exit(f"lipsync-demo: {exc}")
    if results:
        print(summary_table(results))
        print("\n".join(acceptance_lines(results.get("acceptance"))))
        print(f"results: {Path(data['out_dir']) / 'results.json'}")


def main() -> None:
    """Console-script entry point."""
    hydra_main()


if __name__ == "__main__":
    main()
