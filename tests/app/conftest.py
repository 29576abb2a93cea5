"""Fixtures for the AppTest suite: a runs directory and job manager per module, trained runs.

Every test module gets its own runs directory (``AEVAE_RUNS_DIR``) and its own job
manager. The app's ``manager()`` is an ``st.cache_resource``: the cache is cleared before
a module's manager is made (by calling that very function, so the pages get the same
object) and the manager is shut down, its workers stopped, after the module.

``app_env`` gives a manager that queues runs but never starts workers, for tests that
only check what reaches the store; ``live_app_env`` one whose workers really train.

Streamlit installs the script as ``sys.modules["__main__"]`` when it runs it and leaves it
there; in this process that would make every later multiprocessing child (the live
manager's workers, tests/core's job tests) re-import app.py as ``__mp_main__``. So
``server_like_apptest`` puts pytest's ``__main__`` back after each AppTest run: these
tests stay independent of their order. What a worker does with app.py is tested on its
own (test_app_module.py) and for real in tests/e2e.

AppTest resets ``PagesManager.uses_pages_directory`` before every run, and because the
app's pages live in a folder named ``pages/`` Streamlit then falls back to its legacy
multipage mode and runs the page file *without* app.py (no sidebar, no navigation) on
every run after the first. The real server sets that flag once per process (the first
``st.navigation`` call turns it off for good; ``pages/ui/common.py`` makes sure of it), so
``server_like_apptest`` keeps it off here too, as in the server.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
import streamlit.testing.v1.app_test as app_test_module
from app_helpers import REPO, make_completed_run
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from aevae_core.jobs.manager import JobManager
from aevae_core.store.runs import RunStore


class _ServerLikePagesManager(PagesManager):
    """Keeps Streamlit's legacy ``pages/`` mode off, as st.navigation does in the server."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def _keeping_main(run: Any) -> Any:
    @functools.wraps(run)
    def wrapper(self: AppTest, *args: Any, **kwargs: Any) -> Any:
        main = sys.modules["__main__"]
        try:
            return run(self, *args, **kwargs)
        finally:
            sys.modules["__main__"] = main

    return wrapper


@pytest.fixture(autouse=True, scope="session")
def server_like_apptest() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_test_module, "PagesManager", _ServerLikePagesManager)
        mp.setattr(AppTest, "_run", _keeping_main(AppTest._run))
        yield


@dataclass
class AppEnv:
    runs_dir: Path
    store: RunStore
    manager: JobManager


def _app_env(tmp_path_factory: pytest.TempPathFactory, *, workers: bool) -> Iterator[AppEnv]:
    import pages.ui.common as common

    runs_dir = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AEVAE_RUNS_DIR", str(runs_dir))
        mp.chdir(REPO)
        if not workers:  # runs stay "queued": nothing trains behind the tests' back
            mp.setattr(common, "JobManager", functools.partial(JobManager, start=False))
        st.cache_resource.clear()
        manager = common.manager()  # cached: the very object the pages get
        assert manager.store.root == runs_dir.resolve()
        try:
            yield AppEnv(runs_dir, RunStore(runs_dir), manager)
        finally:
            manager.shutdown(timeout=15)
            st.cache_resource.clear()


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppEnv]:
    """A fresh runs directory and a job manager that queues runs but never trains them."""
    yield from _app_env(tmp_path_factory, workers=False)


@pytest.fixture(scope="module")
def live_app_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppEnv]:
    """A fresh runs directory and a job manager whose worker processes really train."""
    yield from _app_env(tmp_path_factory, workers=True)


@pytest.fixture(scope="module")
def completed_run(app_env: AppEnv) -> str:
    """A 2-epoch digits VAE trained in-process into the module's store."""
    return make_completed_run(app_env.store)
