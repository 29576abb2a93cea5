"""The one-node Ray cluster the tests in this folder share, on loopback only.

Skipped, with the reason, when Ray is not installed (requirements-cluster.txt) or when
this process can reach a network other than loopback: Ray binds the machine's address
whatever ``--node-ip-address`` says, which a test must never do. Run them as .ci/run does:

    unshare --net sh -c 'ip link set lo up && python -m pytest -m ray tests/cluster'

Every Ray worker of this session runs ``forbid_store_access`` first (Ray's
``worker_process_setup_hook``): an audit hook that refuses to open, list, create or
remove anything under the folder that holds the tests' run stores, or to open SQLite
there. So a task that reached for the store would fail, and its metrics would be missing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

FORBIDDEN_ENV = "AEVAE_TEST_FORBIDDEN_DIR"


def loopback_only() -> bool:
    """Whether this process's network namespace has no interface but ``lo``."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def _make_hook():  # noqa: ANN202
    """``forbid_store_access``, made here so that Ray pickles it by value (its workers
    cannot import this file)."""

    def hook() -> None:
        """No access under $AEVAE_TEST_FORBIDDEN_DIR from this process."""
        import os
        import sys

        root = os.environ.get("AEVAE_TEST_FORBIDDEN_DIR")
        audited = ("open", "sqlite3.connect", "os.listdir", "os.scandir", "os.mkdir",
                   "os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "os.chdir")  # fmt: skip
        if not root:
            return

        def audit(event: str, args: tuple) -> None:
            if event not in audited or not args or isinstance(args[0], int):  # an fd
                return
            try:
                path = os.path.abspath(os.fsdecode(args[0]))
            except TypeError:
                return
            if path == root or path.startswith(root + os.sep):
                raise PermissionError(f"a Ray task may not touch the run store ({event} {path})")

        sys.addaudithook(audit)

    return hook


forbid_store_access = _make_hook()


@pytest.fixture(scope="session")
def stores_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every test's runs directory lives in (what Ray workers may not touch)."""
    return tmp_path_factory.mktemp("stores").resolve()


@pytest.fixture(scope="session")
def ray_cluster(stores_root: Path):
    """``ray.init(num_cpus=2, include_dashboard=False)``, once for the session."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (requirements-cluster.txt)")
    if not loopback_only():
        pytest.skip("not in a loopback-only network namespace (Ray would bind this machine's "
                    "address): run under unshare --net, see .ci/run")  # fmt: skip
    os.environ.pop("RAY_ADDRESS", None)
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"worker_process_setup_hook": forbid_store_access,
                     "env_vars": {FORBIDDEN_ENV: str(stores_root)}},
    )  # fmt: skip
    yield ray
    ray.shutdown()
