"""UNet checkpoints for the web app: found under a runs folder, told apart from other kinds, loaded once.

A checkpoint is a UNet one when it holds a ``lipsync_unet`` entry, what both
``lipsync-train experiment=unet_*`` and ``lipsync-convert-weights`` write (see
:meth:`~lipsync_train.inference.pipeline.LipSyncPipeline.from_checkpoint`).
Looking costs little: the file is memory-mapped and only its pickled
structure is read, so a 5 GB converted LatentSync UNet is listed in well under
a second. The last loaded pipeline is kept (one at a time: a full-size UNet
is gigabytes) and reloaded when its file changes.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import torch

from evaluation.app.inputs import UserError
from lipsync_train.inference.pipeline import LipSyncPipeline

log = logging.getLogger(__name__)


def is_unet_checkpoint(path: str | Path) -> bool:
    """True when ``path`` loads as a dict with a ``lipsync_unet`` entry; False for any other file."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is simply not a UNet checkpoint
        log.debug("%s is not a loadable checkpoint: %s", path, err)
        return False
    return isinstance(ckpt, dict) and "lipsync_unet" in ckpt


def find_unet_checkpoints(runs_dir: str | Path | None, given: list[str] | None = None) -> list[str]:
    """``given`` paths first, then every ``*.ckpt`` UNet checkpoint under ``runs_dir`` (sorted, no duplicates)."""
    found = [str(Path(p)) for p in given or [] if p]
    if runs_dir and Path(runs_dir).is_dir():
        for path in sorted(Path(runs_dir).rglob("*.ckpt")):
            if str(path) not in found and is_unet_checkpoint(path):
                found.append(str(path))
    return found


class PipelineCache:
    """The pipeline of the last checkpoint asked for, reloaded when another one (or a newer file) is asked for."""

    def __init__(self, device: str = "cpu", use_ema: bool = True):
        self.device, self.use_ema = device, use_ema
        self._key: tuple[str, float] | None = None
        self._pipeline: LipSyncPipeline | None = None

    def get(self, path: str | None) -> LipSyncPipeline:
        """The pipeline of ``path``; a missing file or a checkpoint of another kind is a :class:`UserError`."""
        if not path:
            raise UserError("Choose a checkpoint.")
        file = Path(path)
        if not file.is_file():
            raise UserError(f"Checkpoint {path}: no such file.")
        key = (str(file.resolve()), file.stat().st_mtime)
        if key != self._key:
            self._pipeline = self._key = None  # free the old model before the new one is built
            try:
                self._pipeline = LipSyncPipeline.from_checkpoint(file, use_ema=self.use_ema, device=self.device)
            except KeyError as err:  # from_checkpoint names what is missing
                raise UserError(f"Checkpoint {file.name} is not a lip-sync UNet checkpoint: {err.args[0]}") from err
            except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:  # not a torch file at all, or a truncated one
                raise UserError(f"Checkpoint {file.name} could not be loaded: {err}") from err
            self._key = key
        return self._pipeline
