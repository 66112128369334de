"""The ``slurm_cluster`` fixture (tests/conftest.py) fails, not skips, when the SLURM tests were asked for.

A run with ``RUN_SLURM=1`` (``./setup.sh test``, ``.ci/run``) on a runner that has no cluster and cannot
start one must go red: before, a non-root runner skipped every SLURM test and CI stayed green. These
tests run pytest in a child process on a one-line test that uses the fixture, with no cluster reachable
(a stand-in ``sinfo`` first on PATH says the controller is down) and ``LIPSYNC_SLURM_START=0`` (so nothing
is started: the same path as a runner without root or sudo). Not ``slurm``-marked: they need no cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_fixture(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    test = tmp_path / "test_uses_cluster.py"
    test.write_text("def test_uses_cluster(slurm_cluster):\n    assert slurm_cluster\n")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    sinfo = fake_bin / "sinfo"
    sinfo.write_text("#!/bin/sh\necho 'sinfo: error: Unable to contact slurm controller' >&2\nexit 1\n")
    sinfo.chmod(0o755)
    child_env = {k: v for k, v in os.environ.items() if k not in {"RUN_SLURM", "CI"}}
    child_env.update({"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "LIPSYNC_SLURM_START": "0",
                      "PYTHONPATH": str(ROOT), **env})
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-c", os.devnull,
                           "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-rA", str(test)],
                          capture_output=True, text=True, cwd=ROOT, env=child_env, timeout=120, check=False)


def test_run_slurm_without_a_cluster_fails_with_the_reason(tmp_path: Path):
    proc = run_fixture(tmp_path, RUN_SLURM="1")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "1 error" in out and "RUN_SLURM=1 (or CI=true) asks for the SLURM tests" in out, out
    assert "LIPSYNC_SLURM_START=0" in out, out


def test_ci_true_without_a_cluster_fails(tmp_path: Path):
    proc = run_fixture(tmp_path, CI="true")
    assert proc.returncode != 0 and "asks for the SLURM tests" in proc.stdout, proc.stdout + proc.stderr


def test_without_run_slurm_the_cluster_tests_are_skipped_with_the_reason(tmp_path: Path):
    proc = run_fixture(tmp_path)
    assert proc.returncode == 0 and "1 skipped" in proc.stdout, proc.stdout + proc.stderr
    assert "LIPSYNC_SLURM_START=0" in proc.stdout


def test_a_non_root_runner_starts_it_through_sudo_or_says_why_it_cannot(monkeypatch):
    from tests import conftest

    monkeypatch.delenv("LIPSYNC_SLURM_START", raising=False)
    monkeypatch.setattr(conftest.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(conftest.shutil, "which", lambda name: None if name == "sudo" else f"/usr/bin/{name}")
    prefix, why = conftest.local_cluster_prefix()
    assert prefix is None and "root or passwordless sudo" in why and "uid 1000" in why
    monkeypatch.setattr(conftest.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(conftest.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0 if cmd == ["sudo", "-n", "true"] else 1))
    assert conftest.local_cluster_prefix() == (["sudo", "-n"], "")
