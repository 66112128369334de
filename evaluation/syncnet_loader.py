"""Load the syncnet_v2 scorer for LSE from a local file: the official weights or a project checkpoint.

The network itself lives with the other SyncNets in
:mod:`lipsync_train.networks.syncnet_v2` (same key names as the official
``syncnet_v2.model``); this module is the one place evaluation imports it.
Accepted files:

- the official ``syncnet_v2.model`` from syncnet_python: a plain state dict
  whose keys look like ``netcnnaud.0.weight``;
- a checkpoint written by this project: a dict with ``state_dict`` (Lightning)
  or ``model`` holding the same keys under any prefix (``model.``,
  ``syncnet.``...), e.g. an Arabic syncnet_v2 trained by
  ``lipsync-train experiment=syncnet``.

A checkpoint of another architecture (the cosine StableSyncNet) cannot be
scored with the published protocol (it is not an MFCC/Euclidean network), so
it is refused with an error naming the file and the keys that were expected.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import torch

log = logging.getLogger(__name__)
ANCHOR_KEY = "netcnnaud.0.weight"
SUBMODULES = ("netcnnaud", "netfcaud", "netcnnlip", "netfclip")


def _tensors(obj: object) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    return None


def extract_syncnet_state(checkpoint: object, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """Find the syncnet_v2 weights in a loaded file -> state dict with official (unprefixed) keys."""
    candidates = [checkpoint]
    if isinstance(checkpoint, dict):
        candidates += [checkpoint.get(k) for k in ("state_dict", "model", "syncnet", "ema") if k in checkpoint]
    for cand in candidates:
        state = _tensors(cand)
        if state is None:
            continue
        prefixes = [k[: -len(ANCHOR_KEY)] for k in state if k.endswith(ANCHOR_KEY)]
        if not prefixes:
            continue
        prefix = min(prefixes, key=len)
        return {k[len(prefix):]: v for k, v in state.items()
                if k.startswith(prefix) and k[len(prefix):].split(".")[0] in SUBMODULES}
    raise ValueError(f"{source}: no syncnet_v2 weights found; expected a state dict with keys like "
                     f"'{ANCHOR_KEY}' (official syncnet_v2.model) or a checkpoint whose 'state_dict' holds "
                     f"them under a prefix (submodules {', '.join(SUBMODULES)})")


def build_syncnet_v2() -> torch.nn.Module:
    """A randomly initialised syncnet_v2 (forward_aud / forward_lip), in eval mode."""
    from lipsync_train.networks.syncnet_v2 import SyncNetV2

    return SyncNetV2().eval()


def load_syncnet(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """A weight file (local path, or URL: downloaded once, see data_prep/pretrained.py) -> syncnet_v2 in eval
    mode on ``device``, with strict key/shape checking."""
    from data_prep.pretrained import resolve_pretrained

    if not str(path).startswith(("http://", "https://")) and not Path(path).expanduser().is_file():
        raise FileNotFoundError(f"syncnet_weights: {path} does not exist (give the local path or URL of "
                                f"syncnet_v2.model, or a project SyncNet checkpoint)")
    path = resolve_pretrained(path, "syncnet_weights")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # project checkpoints may pickle configs; a local file the user chose
        log.info("%s is not a plain tensor file; loading it as a full checkpoint", path)
        loaded = torch.load(path, map_location="cpu", weights_only=False)
    state = extract_syncnet_state(loaded, str(path))
    model = build_syncnet_v2()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: syncnet_v2 weights do not match the architecture; missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return model.eval().to(device)
