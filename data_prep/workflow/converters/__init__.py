"""Converters from public Arabic audio-visual annotations to our manifest, one module per source format.

Each module registers a :class:`Converter` by name; ``lipsync-convert-manifest NAME SOURCE OUTPUT``
finds it here. Adding a source format is one module in this package.

    lipsync-convert-manifest multitalk arabic.json manifest.jsonl
    lipsync-convert-manifest muavic test.yaml manifest.jsonl --text test.ar
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from data_prep.workflow.manifest import ManifestEntry, write_manifest

YOUTUBE = "https://www.youtube.com/watch?v={}"


@dataclass(frozen=True)
class Converter:
    name: str
    source_help: str  # what SOURCE is
    convert: Callable[[str, argparse.Namespace], list[ManifestEntry]]  # (SOURCE, parsed options) -> entries
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None  # the format's own options


CONVERTERS: dict[str, Converter] = {}


def register_converter(converter: Converter) -> Converter:
    CONVERTERS[converter.name] = converter
    return converter


def load_converters() -> dict[str, Converter]:
    """Import every module of this package (each registers its converter) -> name -> Converter."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return CONVERTERS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lipsync-convert-manifest", description=__doc__.split("\n\n")[0])
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, converter in sorted(load_converters().items()):
        sub = formats.add_parser(name, help=converter.source_help)
        sub.add_argument("source", help=converter.source_help)
        sub.add_argument("output", help="manifest.jsonl to write")
        if converter.add_arguments is not None:
            converter.add_arguments(sub)
    args = parser.parse_args(argv)
    entries = CONVERTERS[args.format].convert(args.source, args)
    count = write_manifest(entries, args.output)
    print(f"wrote {count} entries to {args.output}")
