"""Model configs as plain JSON values, so checkpoints that carry them load with ``torch.load(weights_only=True)``.

Checkpoints rebuild every network from a saved config (no pretrained paths at
inference); diffusers and transformers configs hold tuples, private keys and
occasionally objects, which a weights-only unpickler refuses.
"""

from __future__ import annotations

import json
from typing import Any


def plain_config(config: Any) -> dict[str, Any]:
    """A diffusers / transformers config (or a mapping) -> JSON-safe dict without ``_private`` keys."""
    raw = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return json.loads(json.dumps({k: v for k, v in raw.items() if not k.startswith("_")}, default=str))
