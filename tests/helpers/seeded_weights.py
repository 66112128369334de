"""Deterministic random weights for a state dict, so a parity fixture need not ship the weights themselves.

The reference networks (pytorch-fid's Inception, syncnet_python's ``SyncNetModel.S``) and ours have the same
state-dict keys and shapes. ``tools/fixtures/make_*_fixtures.py`` fill the reference with
:func:`seeded_state_dict` of its keys in the reference venv; the parity tests fill ours with the same call and
compare outputs. The procedure depends only on the sorted keys, their shapes and the seed, and uses numpy's
legacy ``RandomState`` (its streams are frozen across numpy versions), so the two sides get identical bits:

- one ``np.random.RandomState(seed)``, keys visited in ``sorted()`` order, one draw per key (in float64, then
  cast to float32);
- ``*.weight`` with 2+ dims (conv, linear): ``N(0, 2 / fan_in)``, fan_in = product of all dims but the first
  (He scaling: the second moment survives each conv + ReLU, so ~90 Inception layers neither fade nor blow up);
- ``*.bias`` beside such a weight: ``0.01 * N(0, 1)``;
- ``*.weight`` with 1 dim (norm scale): ``1 + 0.1 * N(0, 1)``; the ``*.bias`` beside it (norm shift):
  ``0.1 * N(0, 1)``;
- ``*.running_mean``: ``0.1 * N(0, 1)``; ``*.running_var``: ``Uniform(0.5, 1.5)``;
- ``*.num_batches_tracked``: 0 (int64), nothing drawn.

Any other key name is an error, so a new kind of tensor gets a documented rule before it gets values.
"""

from __future__ import annotations

import hashlib
import math
from typing import Mapping

import numpy as np


def seeded_state_dict(shapes: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """{key: shape} -> {key: array} by the procedure in the module docstring."""
    rng = np.random.RandomState(seed)
    out: dict[str, np.ndarray] = {}
    for key in sorted(shapes):
        shape = tuple(int(d) for d in shapes[key])
        prefix, _, name = key.rpartition(".")
        weight_shape = shapes.get(f"{prefix}.weight" if prefix else "weight")
        if name == "num_batches_tracked":
            out[key] = np.zeros(shape, np.int64)
            continue
        if name == "weight" and len(shape) > 1:
            values = rng.standard_normal(shape) * math.sqrt(2.0 / math.prod(shape[1:]))
        elif name == "weight":
            values = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name == "bias" and weight_shape is not None and len(weight_shape) > 1:
            values = 0.01 * rng.standard_normal(shape)
        elif name == "bias":
            values = 0.1 * rng.standard_normal(shape)
        elif name == "running_mean":
            values = 0.1 * rng.standard_normal(shape)
        elif name == "running_var":
            values = rng.uniform(0.5, 1.5, shape)
        else:
            raise ValueError(f"seeded_state_dict: no rule for tensor '{key}' (shape {shape}); add one to "
                             f"tests/helpers/seeded_weights.py and its docstring")
        out[key] = values.astype(np.float32)
    return out


def state_digest(state: Mapping[str, np.ndarray]) -> str:
    """sha256 over the sorted keys, shapes, dtypes and bytes: the fixture records it, the test checks it."""
    h = hashlib.sha256()
    for key in sorted(state):
        arr = np.ascontiguousarray(np.asarray(state[key]))
        h.update(f"{key}|{arr.shape}|{arr.dtype.str}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def fill_seeded(model, seed: int) -> str:
    """Load :func:`seeded_state_dict` of ``model``'s own keys into it (strict) -> the digest of what was loaded."""
    import torch

    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = seeded_state_dict(shapes, seed)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return state_digest(state)
