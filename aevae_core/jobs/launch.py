"""Starting worker processes: the forkserver, its warm-up, and which GPU a job gets.

Split out of manager.py (the queue and its scheduling stay there). The job manager creates a
``Launcher`` when it is created, which is when the app's server renders its first page:
the forkserver starts then, in a background thread, imports torch and the engine and
trains two tiny models (worker.warm_up) at low priority (``AEVAE_WORKER_NICE``, see
processes.lower_priority), so that the first click on Train finds it ready, and neither
its start nor that click waits for the other.

With several CUDA GPUs each job is given one (``CUDA_VISIBLE_DEVICES`` in its worker): the
one with the fewest of this manager's jobs, up to ``max_workers`` jobs per GPU.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("aevae_core.jobs.manager")

# Modules the forkserver imports once, so that every job forked from it starts warm.
PRELOAD = ["aevae_core.jobs.worker", "aevae_core.jobs.manager"]


def pick_gpu(gpus: Iterable[int], busy: Iterable[int | None], per_device: int) -> int | None:
    """The GPU for the next job: the least loaded of ``gpus`` (their physical indices) given
    the GPUs of the jobs running now, ``busy``; None when every GPU runs ``per_device`` jobs.
    Ties go to the first in ``gpus`` order, so jobs spread 0, 1, 2, ... before doubling up."""
    gpus = list(gpus)
    load = {gpu: 0 for gpu in gpus}
    for gpu in busy:
        if gpu in load:
            load[gpu] += 1
    free = [gpu for gpu in gpus if load[gpu] < per_device]
    return min(free, key=lambda gpu: load[gpu]) if free else None


class Launcher:
    """The forkserver (started in the background at creation) and the worker processes."""

    def __init__(self, on_ready: Callable[[], None] | None = None) -> None:
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.ready = threading.Event()  # the forkserver is up, with torch imported
        self._on_ready = on_ready
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Start the forkserver in a thread (once); ``ready`` is set when it can fork."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._start_forkserver, name="aevae-forkserver", daemon=True
                )
                self._thread.start()

    def _start_forkserver(self) -> None:
        try:  # a first (empty) process returns once the preload (torch, warm-up) is done
            probe = self.ctx.Process(target=_noop, name="aevae-forkserver-probe", daemon=True)
            probe.start()
            probe.join()
        except Exception:
            log.exception("could not start the forkserver; workers start without a preload")
        self.ready.set()
        if self._on_ready is not None:
            self._on_ready()

    def process(self, root: str, run_id: str, threads: int, gpu: int | None) -> Any:
        """A worker process (not started yet) that trains ``run_id`` of the store at ``root``."""
        return self.ctx.Process(
            target=_worker_target(),
            args=(root, run_id, threads, worker_context(gpu)),
            name=f"aevae-run-{run_id}",
            daemon=True,
        )


def _noop() -> None:
    pass


def _run_worker(*args: Any) -> None:
    """A worker process's target. Importing aevae_core.jobs.worker here, not in the manager,
    keeps torch's warm-up out of the server process (the forkserver has it preloaded)."""
    from aevae_core.jobs.worker import worker_main

    worker_main(*args)


def _worker_target() -> Any:
    """``_run_worker`` as this module in ``sys.modules`` has it now.

    The worker's target is pickled by reference (module + name), and pickle insists that
    the name still resolves to the very same object. Streamlit's file watcher drops and
    re-imports changed modules while the server runs, so a manager created before that (it
    lives in ``st.cache_resource``) would otherwise fail every job start with a
    PicklingError ("not the same object as aevae_core.jobs.launch._run_worker").
    """
    module = sys.modules.get(__name__) or importlib.import_module(__name__)
    return module._run_worker


def worker_context(gpu: int | None = None) -> dict[str, Any]:
    """The caller's working directory and AEVAE_* settings, for a worker to adopt, and the
    GPU it is given (None: whatever CUDA_VISIBLE_DEVICES the forkserver had)."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    env = {k: v for k, v in os.environ.items() if k.startswith("AEVAE_")}
    return {"cwd": cwd, "env": env, "gpu": gpu}
