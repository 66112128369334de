"""Self-describing networks: a checkpoint entry ``{"target", "kwargs"}`` that rebuilds a network without files.

Every network a checkpoint carries (the SyncNets, the denoiser, the audio
encoder) exposes ``init_kwargs``: constructor arguments made of plain values,
with configs in place of pretrained paths. :func:`spec_of` writes the entry,
:func:`build_from_spec` rebuilds the (randomly initialised) network before its
state dict is loaded. :func:`plain_config` turns diffusers / transformers
configs into such plain values: they hold tuples, private keys and
occasionally objects, which ``torch.load(weights_only=True)`` refuses.
"""

from __future__ import annotations

import json
from typing import Any

from hydra.utils import get_object
from torch import nn


def plain_config(config: Any) -> dict[str, Any]:
    """A diffusers / transformers config (or a mapping) -> JSON-safe dict without ``_private`` keys."""
    raw = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return json.loads(json.dumps({k: v for k, v in raw.items() if not k.startswith("_")}, default=str))


def spec_of(module: nn.Module) -> dict[str, Any]:
    """The checkpoint entry that rebuilds ``module``: its class path and ``init_kwargs``."""
    cls = type(module)
    return {"target": f"{cls.__module__}.{cls.__qualname__}", "kwargs": module.init_kwargs}


def build_from_spec(spec: dict[str, Any], what: str = "network") -> nn.Module:
    """``{"target", "kwargs"}`` -> the network, with random weights until its state dict is loaded."""
    try:
        cls = get_object(spec["target"])
    except (KeyError, ImportError, AttributeError) as err:
        raise ValueError(f"{what} entry {spec.get('target')!r}: cannot import the class ({err})") from None
    return cls(**spec["kwargs"])
