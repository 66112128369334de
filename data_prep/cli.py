"""``lipsync-prep``: the dataset-regeneration workflow as a Hydra app.

    lipsync-prep manifest=data/manifest.jsonl out_dir=data/arabic workers=2
    lipsync-prep manifest=M out_dir=D part=$SLURM_ARRAY_TASK_ID/$N     # one array task
    lipsync-prep manifest=M out_dir=D merge_only=true                  # after all tasks

Writes ``out_dir/shards/*.tar``, ``out_dir/index.json``, ``out_dir/dropped.jsonl``
and the resolved config next to them; prints a summary table at the end.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from data_prep import CONF_DIR
from data_prep.workflow.config import register
from data_prep.workflow.manifest import ManifestError, parse_part

log = logging.getLogger("lipsync-prep")
register()


def resolved_config(cfg: DictConfig) -> dict:
    """The config as a plain dict with absolute paths (workers get a picklable copy)."""
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    data["out_dir"] = str(Path(data["out_dir"]).expanduser().resolve())
    data["manifest"] = str(Path(data["manifest"]).expanduser().resolve())
    data["download"]["cache_dir"] = str(Path(data["download"]["cache_dir"]).expanduser().resolve())
    if data["sync"]["ckpt"] and Path(data["sync"]["ckpt"]).expanduser().exists():  # else a URL or hub id
        data["sync"]["ckpt"] = str(Path(data["sync"]["ckpt"]).expanduser().resolve())
    return data


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="data_prep")
def main(cfg: DictConfig) -> None:
    from data_prep.workflow.pipeline import run, summary_table

    try:
        data = resolved_config(cfg)
        index, count = parse_part(data["part"])
        out = Path(data["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        name = "config.yaml" if count == 1 and not data["merge_only"] else (
            "config-merge.yaml" if data["merge_only"] else f"config-part-{index:03d}-of-{count:03d}.yaml")
        OmegaConf.save(OmegaConf.create(data), out / name)
        result = run(data)
    except (ManifestError, FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        sys.exit(f"lipsync-prep: {exc}")
    if result is not None:
        print(summary_table(result))
        print(f"shards: {out / 'shards'}\nindex: {out / 'index.json'}\ndropped: {out / 'dropped.jsonl'}")


if __name__ == "__main__":
    main()
