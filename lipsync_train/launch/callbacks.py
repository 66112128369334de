"""Training callbacks of our own (Lightning's own ones are configured in ``conf/callbacks/``).

:class:`SampleKeyLog` appends the sample keys of every training batch to
``DIR/keys-rank{R}.txt``: a cheap audit of which clips each DDP rank really saw,
used by the DDP test to prove ranks read disjoint data in equal batch counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class SampleKeyLog(pl.Callback):
    """Write one line per training batch (its sample keys, space-separated) per rank."""

    def __init__(self, dirpath: str):
        self.dirpath = dirpath

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        path = Path(self.dirpath) / f"keys-rank{trainer.global_rank}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(" ".join(batch["key"]) + "\n")
