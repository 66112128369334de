"""Test-wide settings: nothing may reach a hub or a logging service from a test.

Also the ``slurm_cluster`` fixture of the ``slurm``-marked tests: it uses a local SLURM cluster that
already answers, or starts one with ``slurm/local_cluster.sh up`` (as root, or through passwordless
``sudo -n``) and stops it (only the daemons it started) when the session ends. When the cluster tests
were asked for (``RUN_SLURM=1`` or ``CI=true``, as ``./setup.sh test`` and ``.ci/run`` set them), a
cluster that is missing and cannot be started FAILS them with the reason; otherwise (someone ran
``pytest -m slurm`` by hand on a laptop) they are skipped with it. ``LIPSYNC_SLURM_START=0`` never
starts the local cluster: only one that already answers is used.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HYDRA_FULL_ERROR", "1")
# an empty download cache: a user's cached weights (syncnet_v2 for the prep sync filter, the FID Inception) must
# not change what the tests run
os.environ["LIPSYNC_CACHE"] = tempfile.mkdtemp(prefix="lipsync_test_cache_")


def slurm_tests_required() -> bool:
    """True when this run asked for the cluster tests, so a cluster that cannot be had is a failure."""
    return os.environ.get("RUN_SLURM") == "1" or os.environ.get("CI") == "true"


def local_cluster_prefix() -> tuple[list[str] | None, str]:
    """How this process can run ``slurm/local_cluster.sh`` -> (command prefix, "") or (None, why it cannot)."""
    if os.environ.get("LIPSYNC_SLURM_START") == "0":
        return None, "LIPSYNC_SLURM_START=0: the local cluster is not started, and no running cluster answers sinfo"
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True,
                                                 check=False).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        return None, (f"no SLURM cluster answers sinfo, and starting the local one (slurm/local_cluster.sh up) needs "
                      f"root or passwordless sudo; this runner is uid {os.geteuid()} without either")
    if not (shutil.which("slurmctld") or os.path.exists("/usr/sbin/slurmctld")) and not shutil.which("apt-get"):
        return None, "SLURM is not installed and there is no apt-get to install it (slurm/local_cluster.sh up)"
    return prefix, ""


@pytest.fixture(scope="session")
def slurm_cluster():
    from tests.helpers.slurm_helpers import LOCAL_CLUSTER, cluster_responds

    if cluster_responds():
        yield "existing"
        return
    prefix, why_not = local_cluster_prefix()
    if prefix is None:
        if slurm_tests_required():
            pytest.fail(f"RUN_SLURM=1 (or CI=true) asks for the SLURM tests, but {why_not}", pytrace=False)
        pytest.skip(why_not)
    proc = subprocess.run([*prefix, "bash", str(LOCAL_CLUSTER), "up"], capture_output=True, text=True, timeout=900,
                          check=False)
    if proc.returncode != 0 or not cluster_responds():
        pytest.fail(f"slurm/local_cluster.sh up failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    try:
        yield "started"
    finally:
        subprocess.run([*prefix, "bash", str(LOCAL_CLUSTER), "down"], capture_output=True, text=True, timeout=120,
                       check=False)


@pytest.fixture(scope="session")
def sync_nets(tmp_path_factory):
    """The generated dataset, its shards, the SyncNet expert and the judge (tests/helpers/sync_nets.py), once."""
    from tests.helpers.sync_nets import train_sync_nets

    return train_sync_nets(tmp_path_factory.mktemp("sync_nets"))
