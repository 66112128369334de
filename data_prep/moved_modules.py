"""Old import paths of modules that moved, kept importable while open issues and saved checkpoints name them.

The floor-plan change (shared pieces down into ``data_prep``, networks, Lightning
modules, losses and launch code into their own rooms in ``lipsync_train``, metrics
and the demo into ``evaluation``) moved modules that other tools still name:
issues quote ``lipsync_train.sync_scoring.load_sync_scorer`` and
``lipsync_train/inference/sync_check.py``, and every SyncNet checkpoint written
before the move stores its class as ``lipsync_train.models.stable_syncnet.StableSyncNet``.
Each package's ``__init__`` hands its table of ``old -> new`` names to
:func:`alias_moved_modules`; importing an old name then returns the new module
itself (the same object, so patches and ``isinstance`` checks agree), and a
prefix entry covers the sub-modules of a moved package.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:  # the target module is already executed
        return None


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.table: dict[str, str] = {}

    def target_of(self, name: str) -> str | None:
        if name in self.table:
            return self.table[name]
        for old, new in self.table.items():
            if name.startswith(old + "."):
                return new + name[len(old):]
        return None

    def find_spec(self, name, path=None, target=None):
        new = self.target_of(name)
        if new is None:
            return None
        return importlib.util.spec_from_loader(name, _AliasLoader(new))


_FINDER = _MovedModuleFinder()


def alias_moved_modules(table: dict[str, str]) -> None:
    """Make every ``old`` module name in ``table`` import as its ``new`` module."""
    _FINDER.table.update(table)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
