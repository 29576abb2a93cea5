"""Background training: a FIFO queue in the run store, run by worker processes.

    manager = JobManager()                 # one per server process
    run_id = manager.submit(config)        # returns at once; the run is "queued"
    manager.cancel(run_id)                 # running: stops within ~1 s; queued: dequeued

* Each job runs in its own process started by a *forkserver* that has already imported
  torch and the engine, so a job starts in milliseconds and a crash, an OOM kill or a
  ``kill -9`` of one job never takes down the server or another job. (Never plain fork:
  forking a process that has initialised CUDA is unsafe.)
* At most ``max_workers`` jobs run at once (``AEVAE_MAX_WORKERS``; default from the cores
  and the GPU); each worker sets its torch thread count to its share of the cores.
* Claiming a queued run is an atomic UPDATE in SQLite, so several managers (the app and a
  ``python -m aevae_core worker``) can serve the same store without running a job twice.
* On start the manager reconciles: runs left "running" by a process that no longer exists
  become "interrupted", and can be resumed from their last checkpoint.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from aevae_core.config import TrainConfig, validate
from aevae_core.store import RunStore

log = logging.getLogger(__name__)

POLL_S = 0.2
CANCEL_GRACE_S = 5.0  # a worker that ignores its stop flag this long is terminated


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_max_workers() -> int:
    """``AEVAE_MAX_WORKERS`` if set; else half the cores (at least 1, at most 4)."""
    env = os.environ.get("AEVAE_MAX_WORKERS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            log.warning("AEVAE_MAX_WORKERS=%r is not an integer; using the default", env)
    return max(1, min(4, cpu_count() // 2))


def submit_to_store(store: RunStore, config: TrainConfig, group_id: str | None = None) -> str:
    """Validate and queue a run; any manager serving this store will pick it up."""
    validate(config)
    return store.create_run(config, status="queued", group_id=group_id)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; it only waits to be reaped
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (possibly out of memory)" if name == "SIGKILL" else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with code {exitcode} before finishing the run"


class JobManager:
    """Queue + worker processes over a RunStore. Safe to call from many threads."""

    def __init__(
        self,
        runs_dir: str | Path | None = None,
        *,
        max_workers: int | None = None,
        start: bool = True,
    ) -> None:
        self.store = RunStore(runs_dir)
        self.max_workers = max_workers or default_max_workers()
        self.threads_per_job = max(1, cpu_count() // self.max_workers)
        self.host = socket.gethostname()
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["aevae_core.worker"])
        self._active: dict[str, Any] = {}
        self._cancel_deadline: dict[str, float] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconcile()
        if start:
            self.start()

    # -- public API --------------------------------------------------------------------
    def submit(self, config: TrainConfig, *, group_id: str | None = None) -> str:
        run_id = submit_to_store(self.store, config, group_id)
        self._wake.set()
        return run_id

    def cancel(self, run_id: str) -> str:
        status = self.store.request_cancel(run_id)
        if status == "running":
            with self._lock:
                self._cancel_deadline[run_id] = time.monotonic() + CANCEL_GRACE_S
        self._wake.set()
        return status

    def resume(self, run_id: str) -> None:
        self.store.requeue_for_resume(run_id)
        self._wake.set()

    def active_ids(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run is not queued."""
        ids = [r["id"] for r in self.store.queued()]
        return ids.index(run_id) + 1 if run_id in ids else None

    def start(self) -> None:
        if self._thread is not None:
            return
        # Start the forkserver (it imports torch once) off the caller's thread.
        threading.Thread(target=self._warm_up, daemon=True).start()
        self._thread = threading.Thread(target=self._loop, name="aevae-jobs", daemon=True)
        self._thread.start()

    def serve(self, *, exit_when_idle: bool = False) -> None:
        """Run the scheduler in this thread (the CLI worker)."""
        while not self._closed.is_set():
            self.tick()
            if exit_when_idle and not self._active and not self.store.queued():
                return
            self._wake.wait(POLL_S)
            self._wake.clear()

    def shutdown(self, *, cancel_running: bool = True, timeout: float = 10.0) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            procs = dict(self._active)
        if cancel_running:
            for run_id in procs:
                self.store.request_cancel(run_id)
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
        self.tick(start_new=False)

    # -- scheduling --------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Runs left "running" on this host by a process that is gone become "interrupted"."""
        changed = []
        for run in self.store.list_runs(statuses=("running",)):
            if run["host"] not in (None, self.host) or pid_alive(run["pid"]):
                continue
            if run["id"] in self._active:
                continue
            epoch = run["last_epoch"]
            reason = (
                f"the process running it (pid {run['pid']}) ended without finishing, e.g. the "
                f"server restarted; resume to continue from epoch {epoch}"
                if epoch
                else f"the process running it (pid {run['pid']}) ended before the first epoch"
            )
            if self.store.finish(run["id"], "interrupted", reason, only_if=("running",)):
                changed.append(run["id"])
        return changed

    def _warm_up(self) -> None:
        try:
            multiprocessing.forkserver.ensure_running()
        except Exception:
            log.exception("could not start the forkserver")

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                self.tick()
            except Exception:  # the scheduler must survive a busy database or a bad row
                log.exception("job scheduler tick failed")
            self._wake.wait(POLL_S)
            self._wake.clear()

    def tick(self, *, start_new: bool = True) -> None:
        with self._lock:
            self._reap()
            if start_new and not self._closed.is_set():
                self._start_queued()

    def _reap(self) -> None:
        now = time.monotonic()
        for run_id, proc in list(self._active.items()):
            if proc.is_alive():
                deadline = self._cancel_deadline.get(run_id)
                if deadline is not None and now > deadline:
                    log.warning("run %s ignored its stop request; terminating it", run_id)
                    proc.terminate()
                    proc.join(2)
                    self.store.finish(run_id, "stopped", "stopped by the user (terminated)",
                                      only_if=("running",))  # fmt: skip
                continue
            proc.join()
            del self._active[run_id]
            self._cancel_deadline.pop(run_id, None)
            if proc.exitcode != 0 or self.store.get_run(run_id)["status"] == "running":
                self.store.finish(run_id, "failed", _exit_reason(proc.exitcode),
                                  only_if=("running",))  # fmt: skip

    def _start_queued(self) -> None:
        free = self.max_workers - len(self._active)
        if free <= 0:
            return
        for run in self.store.queued():
            if free <= 0:
                break
            if not self.store.claim(run["id"], os.getpid(), self.host):
                continue  # another manager took it
            from aevae_core.worker import worker_main

            proc = self._ctx.Process(
                target=worker_main,
                args=(str(self.store.root), run["id"], self.threads_per_job),
                name=f"aevae-run-{run['id']}",
                daemon=True,
            )
            try:
                proc.start()
            except Exception as exc:
                self.store.finish(run["id"], "failed", f"could not start a worker: {exc}")
                continue
            self.store.set_pid(run["id"], proc.pid)
            self._active[run["id"]] = proc
            free -= 1


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def get_manager(runs_dir: str | Path | None = None) -> JobManager:
    """The one manager of this process (the app's ``st.cache_resource`` calls this)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = JobManager(runs_dir)
        return _manager
