"""Converters from public Arabic audio-visual annotations to our manifest, one module per source format.

Each module registers a :class:`Converter` by name; ``lipsync-convert-manifest NAME SOURCE OUTPUT``
finds it here. Adding a source format is one module in this package (modules whose name starts with
``_`` are shared helpers, not formats).

Whatever the format, the command then checks every transcript (``_transcripts.py``: empty, outro,
music, no Arabic letter are dropped; a trailing credit is cut; implausibly fast text is marked),
optionally points entries at downloaded videos (``--videos DIR``, ``_videos.py``), writes the
manifest, writes every skipped clip with its file, clip and reason to ``OUTPUT.dropped.jsonl``
(``manifest.jsonl`` -> ``manifest.dropped.jsonl``) and prints counts per reason. A file that cannot
be read at all is an error naming it, never a traceback.

    lipsync-convert-manifest multitalk MultiTalk/MultiTalk_dataset/annotations/arabic.json manifest.jsonl
    lipsync-convert-manifest muavic test.yaml manifest.jsonl --text test.ar
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from data_prep.workflow.converters._report import Conversion, ConverterError, dropped_path, summary, write_dropped
from data_prep.workflow.converters._transcripts import DEFAULT_MAX_LETTERS_PER_SECOND, apply_checks
from data_prep.workflow.converters._videos import use_local_videos
from data_prep.workflow.manifest import ManifestEntry, ManifestError, write_manifest

YOUTUBE = "https://www.youtube.com/watch?v={}"


@dataclass(frozen=True)
class Converter:
    name: str
    source_help: str  # what SOURCE is
    # (SOURCE, parsed options) -> entries, or a Conversion (entries + clips skipped with reasons)
    convert: Callable[[str, argparse.Namespace], list[ManifestEntry] | Conversion]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None  # the format's own options


CONVERTERS: dict[str, Converter] = {}


def register_converter(converter: Converter) -> Converter:
    CONVERTERS[converter.name] = converter
    return converter


def load_converters() -> dict[str, Converter]:
    """Import every module of this package (each registers its converter) -> name -> Converter."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return CONVERTERS


def case_hint(path: str | Path) -> str:
    """For a path that does not exist: " (did you mean X?)" where X differs only in letter case, else ""."""
    path = Path(path)
    here = Path(path.anchor) if path.is_absolute() else Path(".")
    for part in path.parts[1:] if path.is_absolute() else path.parts:
        if not (here / part).exists():
            twins = sorted(p.name for p in here.iterdir() if p.name.lower() == part.lower()) if here.is_dir() else []
            if not twins:
                return ""
            part = twins[0]
        here = here / part
    return f" (did you mean {here}?)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lipsync-convert-manifest", description=__doc__.split("\n\n")[0])
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, converter in sorted(load_converters().items()):
        sub = formats.add_parser(name, help=converter.source_help)
        sub.add_argument("source", help=converter.source_help)
        sub.add_argument("output", help="manifest.jsonl to write (skipped clips go to OUTPUT.dropped.jsonl)")
        sub.add_argument("--videos", metavar="DIR", help="folder of downloaded videos named <youtube_id>.mp4: "
                         "entries point at them (paths relative to the manifest); clips without one are skipped")
        sub.add_argument("--max-letters-per-second", type=float, default=DEFAULT_MAX_LETTERS_PER_SECOND,
                         help="mark transcripts faster than this as text_too_fast (0: off; default %(default)s)")
        if converter.add_arguments is not None:
            converter.add_arguments(sub)
    args = parser.parse_args(argv)
    if not Path(args.source).exists():
        parser.exit(2, f"lipsync-convert-manifest: error: {args.source}: no such file{case_hint(args.source)}\n")
    output = Path(args.output)
    try:
        result = CONVERTERS[args.format].convert(args.source, args)
        result = result if isinstance(result, Conversion) else Conversion(list(result))
        entries, text_skips = apply_checks(result.entries, args.source, max_letters_per_second=args.max_letters_per_second)
        skipped = result.skipped + text_skips
        if args.videos:
            entries, video_skips = use_local_videos(entries, args.videos, output.parent, args.source)
            skipped += video_skips
    except (ConverterError, ManifestError, ValueError, OSError) as exc:
        parser.exit(2, f"lipsync-convert-manifest: error: {exc}\n")
    final = Conversion(entries, skipped, read=result.clips_read)
    count = write_manifest(entries, output)
    write_dropped(skipped, dropped_path(output))
    print(summary(args.source, final, dropped_path(output)))
    print(f"wrote {count} entries to {output}")

