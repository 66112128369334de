"""Dataset regeneration: manifest -> download -> normalise -> clips -> faces -> align -> phonemes -> shards.

``CONF_DIR`` is the repository's Hydra config folder. Console scripts pass it to
``hydra.main`` as an absolute path: given a relative ``config_path``, Hydra
looks for an importable ``conf`` package, which the plain ``conf/`` folder is not.
"""

from pathlib import Path

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
