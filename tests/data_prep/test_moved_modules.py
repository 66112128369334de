"""Old import paths of moved modules still import, as the same module objects (open issues and saved
checkpoints name them: lipsync_train.sync_scoring.load_sync_scorer, lipsync_train.models.stable_syncnet...)."""

from __future__ import annotations

import importlib

import pytest
from hydra.utils import get_object


@pytest.mark.parametrize("old, new", [
    ("lipsync_train.sync_scoring", "lipsync_train.networks.sync_scorer"),
    ("lipsync_train.inference.sync_check", "evaluation.metrics.sync_margin"),
    ("lipsync_train.models.stable_syncnet", "lipsync_train.networks.stable_syncnet"),
    ("lipsync_train.demo.stages", "evaluation.demo.stages"),
    ("data_prep.pipeline", "data_prep.workflow.pipeline"),
    ("data_prep.converters", "data_prep.workflow.converters"),
    ("lipsync_train.data.shard_index", "data_prep.shard_index"),
])
def test_old_path_is_the_new_module(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_checkpoint_targets_written_before_the_move_still_resolve():
    from lipsync_train.networks.stable_syncnet import StableSyncNet

    assert get_object("lipsync_train.models.stable_syncnet.StableSyncNet") is StableSyncNet
    from lipsync_train.sync_scoring import load_sync_scorer  # the entry point issue 15 names

    assert load_sync_scorer.__module__ == "lipsync_train.networks.sync_scorer"


def test_an_unknown_old_name_still_fails():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lipsync_train.no_such_module")
