"""The floor plan holds: every import of a project module runs down a floor, or stays in its own room.

Floors, bottom to top (README "Layout"):

0. shared data pieces: ``data_prep`` itself (shard schema and index, media I/O, face geometry, mouth mask,
   audio features, window spec, Arabic text and phonemes);
1. networks: ``lipsync_train.networks``;
2. the workflows: the dataset workflow (``data_prep.workflow``, ``data_prep.synth``, ``data_prep.cli``) and
   training / inference (the rest of ``lipsync_train``), two rooms that do not import each other;
3. evaluation: every metric, ``lipsync-eval``;
4. the demo (``evaluation.demo``) and the web app (``evaluation.app``), imported by nothing.

Every ``import`` statement counts, lazy ones inside functions too. A lower floor that needs a higher one's
object receives it (the prep sync filter gets its scorer loader by name from the config).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data_prep", "lipsync_train", "evaluation")

# (module prefix, room, floor); the longest matching prefix decides
ROOMS = [
    ("data_prep", "shared", 0),
    ("data_prep.workflow", "dataset workflow", 2),
    ("data_prep.synth", "dataset workflow", 2),
    ("data_prep.cli", "dataset workflow", 2),
    ("lipsync_train", "training and inference", 2),
    ("lipsync_train.networks", "networks", 1),
    ("evaluation", "evaluation", 3),
    ("evaluation.demo", "demo", 4),
    ("evaluation.app", "app", 4),
]


def room_of(module: str) -> tuple[str, int] | None:
    best = None
    for prefix, room, floor in ROOMS:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, room, floor)
    return None if best is None else best[1:]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            out += [(node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base) for alias in node.names]
    return out


def floor_violations(root: Path, packages=PACKAGES, rooms=None) -> list[str]:
    """Every import in ``root``'s packages that goes up a floor or into a sibling room of the same floor."""
    lookup = room_of if rooms is None else (lambda m: next(((r, f) for p, r, f in sorted(
        rooms, key=lambda x: -len(x[0])) if m == p or m.startswith(p + ".")), None))
    problems = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            source = module_name(path, root)
            src_room = lookup(source)
            for line, target in imported_modules(path, source):
                dst_room = lookup(target)
                if src_room is None or dst_room is None or dst_room[0] == src_room[0]:
                    continue
                if dst_room[1] >= src_room[1]:
                    problems.append(f"{path.relative_to(root)}:{line}: {source} ({src_room[0]}, floor {src_room[1]}) "
                                    f"imports {target} ({dst_room[0]}, floor {dst_room[1]})")
    return problems


def test_no_import_runs_up_a_floor():
    problems = floor_violations(ROOT)
    assert not problems, "imports against the floor plan:\n" + "\n".join(problems)


def test_every_project_module_has_a_room():
    homeless = [module_name(p, ROOT) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                if room_of(module_name(p, ROOT)) is None]
    assert not homeless


def test_the_checker_catches_an_upward_import(tmp_path):
    """A synthetic tree with one upward, one sideways and one downward import: the first two are reported."""
    (tmp_path / "low").mkdir()
    (tmp_path / "high").mkdir()
    (tmp_path / "side").mkdir()
    for pkg in ("low", "high", "side"):
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "low" / "shared.py").write_text("def f():\n    from high.top import g  # lazy, still counted\n")
    (tmp_path / "side" / "peer.py").write_text("from high import top\n")
    (tmp_path / "high" / "top.py").write_text("from low.shared import f\nfrom . import top\n")
    rooms = [("low", "low", 0), ("high", "high", 1), ("side", "side", 1)]
    problems = floor_violations(tmp_path, ("low", "high", "side"), rooms)
    assert len(problems) == 2, problems
    assert any("low/shared.py:2" in p and "imports high.top" in p for p in problems)
    assert any("side/peer.py:1" in p for p in problems)


def test_the_demo_is_imported_by_nothing_and_evaluation_never_imports_it():
    importers = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            source = module_name(path, ROOT)
            if source.startswith("evaluation.demo"):
                continue
            importers += [f"{source}:{line}" for line, target in imported_modules(path, source)
                          if target.startswith("evaluation.demo")]
    assert not importers


def test_no_test_module_imports_another():
    """Shared setup lives in tests/helpers and conftest.py; a test module never imports a test module."""
    tests = ROOT / "tests"
    offenders = []
    for path in tests.rglob("*.py"):
        source = module_name(path, ROOT)
        offenders += [f"{source}:{line} imports {target}" for line, target in imported_modules(path, source)
                      if target.startswith("tests.") and any(part.startswith("test_") for part in target.split("."))]
    assert not offenders
