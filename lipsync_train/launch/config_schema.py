"""Config validation: a typo or a wrong type stops the run with a clear message before any data is read.

Two layers:

- :class:`TrainConfig` is the structured schema of the top level of ``conf/train.yaml``
  (registered as ``train_schema`` and listed first in its defaults): an unknown
  top-level key or a value of the wrong type fails during composition, with Hydra's
  message naming the key.
- :func:`validate_targets` walks every node that has a ``_target_`` (data, model,
  model.net, optimizer, trainer, callbacks, loggers) and checks its keys against the
  target's signature: unknown keys (with a close-match suggestion), missing required
  arguments, and values whose type contradicts a simple annotation (int, float, str,
  bool, list, Literal, Optional/Union of those).
"""

from __future__ import annotations

import difflib
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """A config that cannot run; the message lists every problem found, one per line."""


@dataclass
class PathsConfig:
    root_dir: str = "."
    log_dir: str = MISSING
    output_dir: str = MISSING


@dataclass
class TrainConfig:
    task_name: str = "train"
    seed: int = 1234
    ckpt_path: Optional[str] = None  # a checkpoint path, or "last" to resume from output_dir/checkpoints
    optimized_metric: str = "val/acc"
    train: bool = True
    validate: bool = True  # run a final validation and write metrics.json
    data: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    callbacks: Any = None
    logger: Any = None
    paths: PathsConfig = field(default_factory=PathsConfig)


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore (call before composing ``train``)."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)


_SIMPLE = {int: lambda v: isinstance(v, int) and not isinstance(v, bool),
           float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
           str: lambda v: isinstance(v, str), bool: lambda v: isinstance(v, bool),
           list: lambda v: isinstance(v, (list, tuple)), tuple: lambda v: isinstance(v, (list, tuple)),
           dict: lambda v: isinstance(v, dict)}


def _matches(value: Any, hint: Any) -> bool | None:
    """True / False when ``value`` clearly fits / contradicts ``hint``; None when the hint is not checkable."""
    if isinstance(value, dict) and "_target_" in value:
        return True  # becomes an object at instantiation
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        results = [_matches(value, a) for a in args]
        return True if any(r is True for r in results) else (None if None in results else False)
    if origin is typing.Literal:
        return value in args
    simple = _SIMPLE.get(origin or hint)
    if simple is not None:
        return simple(value)
    return None


def _signature(target: Any) -> tuple[inspect.Signature, dict[str, Any]]:
    fn = target.__init__ if inspect.isclass(target) else target
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: check names only
        hints = {}
    return inspect.signature(target), hints


def _check_node(path: str, node: dict[str, Any], problems: list[str]) -> None:
    try:
        target = get_object(node["_target_"])
    except Exception as err:
        problems.append(f"{path}._target_: cannot import {node['_target_']!r} ({err})")
        return
    try:
        sig, hints = _signature(target)
    except (TypeError, ValueError):
        return
    params = {n: p for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    open_kwargs = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    keys = [k for k in node if not (k.startswith("_") and k.endswith("_"))]
    for key in keys:
        if key not in params:
            if not open_kwargs:
                close = difflib.get_close_matches(key, list(params), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {sorted(params)}"
                problems.append(f"{path}.{key}: {node['_target_']} takes no argument {key!r}{hint}")
            continue
        if key in hints and _matches(node[key], hints[key]) is False:
            problems.append(f"{path}.{key}: expected {hints[key]}, got {type(node[key]).__name__} {node[key]!r}")
    if not node.get("_partial_", False):
        required = [n for n, p in params.items() if p.default is p.empty and n not in node and n != "self"]
        for name in required:
            problems.append(f"{path}.{name}: required by {node['_target_']} but not set")


def _walk(path: str, node: Any, problems: list[str], passed_in: dict[str, set[str]]) -> None:
    if isinstance(node, dict):
        if "_target_" in node:
            node = {**{k: None for k in passed_in.get(path, ())}, **node}
            _check_node(path, node, problems)
        for key, value in node.items():
            _walk(f"{path}.{key}" if path else str(key), value, problems, passed_in)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(f"{path}[{i}]", value, problems, passed_in)


def validate_targets(cfg: DictConfig, passed_in: dict[str, set[str]] | None = None) -> None:
    """Raise :class:`ConfigError` listing every bad key / type under ``cfg`` (resolving interpolations).

    ``passed_in`` names arguments the code supplies at instantiation (``{"trainer": {"callbacks"}}``).
    """
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except Exception as err:
        raise ConfigError(f"config cannot be resolved: {err}") from err
    tree.pop("hydra", None)
    known = set(TrainConfig.__dataclass_fields__)
    problems = [f"{key}: not a top-level key of conf/train.yaml" + (f"; did you mean {close[0]!r}?" if close else "")
                for key in tree if key not in known
                for close in [difflib.get_close_matches(key, sorted(known), n=1)]]
    _walk("", tree, problems, passed_in or {})
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
