"""Test-wide settings: nothing may reach a hub or a logging service from a test.

Also the ``slurm_cluster`` fixture of the ``slurm``-marked tests: it uses a local SLURM cluster that
already answers, or, as root, starts one with ``slurm/local_cluster.sh up`` and stops it (only the
daemons it started) when the session ends; without root or a running cluster the tests are skipped.
"""

import os
import shutil
import subprocess

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HYDRA_FULL_ERROR", "1")


@pytest.fixture(scope="session")
def slurm_cluster():
    from tests.helpers.slurm_helpers import LOCAL_CLUSTER, cluster_responds

    if cluster_responds():
        yield "existing"
        return
    if os.geteuid() != 0:
        pytest.skip("needs a running SLURM cluster, or root to start the local one (slurm/local_cluster.sh up)")
    if not (shutil.which("slurmctld") or os.path.exists("/usr/sbin/slurmctld")) and not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and there is no apt-get to install it (slurm/local_cluster.sh)")
    proc = subprocess.run(["bash", str(LOCAL_CLUSTER), "up"], capture_output=True, text=True, timeout=900,
                          check=False)
    if proc.returncode != 0 or not cluster_responds():
        pytest.fail(f"slurm/local_cluster.sh up failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    try:
        yield "started"
    finally:
        subprocess.run(["bash", str(LOCAL_CLUSTER), "down"], capture_output=True, text=True, timeout=120, check=False)
