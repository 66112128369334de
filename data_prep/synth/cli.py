"""``lipsync-make-data``: the Hydra entry point of the synthetic dataset generator.

    lipsync-make-data out_dir=data/synth
    lipsync-make-data out_dir=data/synth seed=3 n_speakers=2 videos_per_speaker=1 workers=2
    lipsync-make-data out_dir=data/real n_speakers=2 videos_per_speaker=0 n_broken=0 realistic=true

Configuration: ``conf/make_data.yaml``. A relative ``out_dir`` is resolved
against the directory the command was started in (Hydra's original cwd).

The config directory is given to Hydra as an absolute path: from a console
script Hydra resolves a relative ``config_path`` as a Python package
(``pkg://conf``), which the repository's plain ``conf/`` folder is not, and
the command fails with "Primary config module 'conf' not found".
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from data_prep import CONF_DIR

log = logging.getLogger(__name__)




@hydra.main(version_base=None, config_path=CONF_DIR, config_name="make_data")
def main(cfg: DictConfig) -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe logs each worker's model load
    from data_prep.synth.generate import generate_dataset

    out_dir = Path(to_absolute_path(str(cfg.out_dir)))
    manifest = generate_dataset(out_dir, seed=int(cfg.seed), n_speakers=int(cfg.n_speakers),
                                videos_per_speaker=int(cfg.videos_per_speaker),
                                sentences_per_video=int(cfg.sentences_per_video),
                                n_broken=int(cfg.n_broken), workers=int(cfg.workers),
                                realistic=bool(cfg.get("realistic", False)))
    log.info("manifest: %s", manifest)
    print(manifest)


if __name__ == "__main__":
    main()
