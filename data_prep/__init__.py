"""The shared floor (shard schema and index, media I/O, face geometry, mouth mask, audio features, Arabic text
and phonemes) and, in ``workflow/``, the dataset workflow: manifest -> ... -> shards.

``CONF_DIR`` is the repository's Hydra config folder. Console scripts pass it to
``hydra.main`` as an absolute path: given a relative ``config_path``, Hydra
looks for an importable ``conf`` package, which the plain ``conf/`` folder is not.
"""

from pathlib import Path

from data_prep.moved_modules import alias_moved_modules

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

# Modules that moved down a floor or into the workflow package keep their old import paths (see moved_modules.py).
alias_moved_modules({
    "data_prep.manifest": "data_prep.workflow.manifest",
    "data_prep.converters": "data_prep.workflow.converters",
    "data_prep.download": "data_prep.workflow.download",
    "data_prep.normalise": "data_prep.workflow.normalise",
    "data_prep.shots": "data_prep.workflow.shots",
    "data_prep.process_source": "data_prep.workflow.process_source",
    "data_prep.sync_filter": "data_prep.workflow.sync_filter",
    "data_prep.shards": "data_prep.workflow.shards",
    "data_prep.pipeline": "data_prep.workflow.pipeline",
    "data_prep.config": "data_prep.workflow.config",
    "data_prep.drops": "data_prep.workflow.drops",
})
