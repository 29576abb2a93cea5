"""Background training: a fair-share queue in the run store, run by worker processes.

    manager = JobManager()                 # one per server process (st.cache_resource)
    run_id = manager.submit(config, owner=o)  # returns at once; the run is "queued"
    manager.cancel(run_id, by=o)           # running: stops within ~1 s; queued: dequeued
    manager.resume(run_id, by=o)           # an interrupted/stopped/failed run, from its checkpoint

* Owners, quotas and the start order are classroom.py's: at most N active runs per owner,
  one start per 2 s, and the next run from the owner with the fewest running runs (FIFO
  within an owner). ``by=`` an owner refuses to touch another owner's run (NotYourRun);
  ``teacher=True`` may touch any.

* Each job runs in its own process started by a *forkserver* that has already imported
  torch and the engine, so a job starts in milliseconds and a crash, an OOM kill or a
  ``kill -9`` of one job never takes down the server or another job. (Never plain fork:
  forking a process that has initialised CUDA is unsafe.)
* At most ``max_workers`` jobs of this manager run at once (``AEVAE_MAX_WORKERS``; default
  from the cores and the GPU), counted per GPU when there are several (launch.py: one GPU
  per job); each worker sets its torch thread count to its share of the cores, so
  concurrent jobs do not oversubscribe the CPU.
* The forkserver starts, at low priority, when the manager is created (launch.py).
* Claiming a queued run is an atomic UPDATE in SQLite, so several managers (the app and a
  ``python -m aevae_core worker``) can serve the same store without running a job twice.
* On start the manager reconciles: runs left "running" by processes that no longer exist
  become "interrupted", and can be resumed from their last checkpoint.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from aevae_core.config import TrainConfig
from aevae_core.engine.devices import gpu_devices
from aevae_core.jobs import classroom
from aevae_core.jobs.admission import submit_to_store
from aevae_core.jobs.backends import Backend, make_backend
from aevae_core.jobs.launch import pick_gpu
from aevae_core.jobs.processes import (
    _exit_reason,
    _stop_process,
    default_max_workers,
    interrupt_orphans,
    threads_per_job,
)
from aevae_core.store.record import FINAL
from aevae_core.store.runs import QuotaExceeded, RunNotFound, RunStore

__all__ = ["JobManager"]

log = logging.getLogger(__name__)

POLL_S = 0.2
RECONCILE_S = 10.0  # how often a running manager looks for runs whose process is gone
CANCEL_GRACE_S = 1.5  # a worker that ignores its stop flag this long is terminated
RUNNING = ("running",)


class JobManager:
    """Queue + worker processes over a RunStore. Safe to call from many threads."""

    def __init__(
        self,
        runs_dir: str | Path | None = None,
        *,
        max_workers: int | None = None,
        start: bool = True,
        backend: str | Backend | None = None,
    ) -> None:
        """``backend``: "local" (forkserver workers) or "ray" (backends.py); default
        AEVAE_BACKEND, else local. BackendError names the setting when it is neither."""
        self.store = RunStore(runs_dir)
        self.max_workers = max(1, int(max_workers)) if max_workers else default_max_workers()
        self._launcher = make_backend(backend, self._wake_up, max_workers=max_workers)
        self.backend = self._launcher.name
        # Several GPUs: one GPU per job, max_workers per GPU. One GPU (or none): as is.
        # (A Ray cluster places GPU jobs itself.)
        devices = gpu_devices() if self.backend == "local" else []
        self.gpus: tuple[int, ...] = tuple(i for i, _ in devices) if len(devices) > 1 else ()
        self.capacity = self.max_workers * max(1, len(self.gpus))  # jobs at once, in all
        self.threads_per_job = threads_per_job(self.capacity)
        self.host = socket.gethostname()
        self._ctx = self._launcher.ctx
        self._active: dict[str, Any] = {}  # run id -> its worker Process
        self._gpu_of: dict[str, int | None] = {}  # run id -> the GPU its worker was given
        self._cancel_deadline: dict[str, float] = {}
        self._lock = threading.RLock()  # guards _active and _cancel_deadline
        self._tick_lock = threading.Lock()  # one scheduling pass at a time
        self._last_start: dict[str, tuple[float, str | None]] = {}  # owner -> (when, group)
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconcile()
        _MANAGERS.add(self)
        if start:
            self.start()

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- public API --------------------------------------------------------------------
    def submit(
        self,
        config: TrainConfig,
        *,
        group_id: str | None = None,
        owner: str = classroom.LOCAL_OWNER,
    ) -> str:
        """Queue a run for ``owner`` and return its id at once.

        ConfigError when the config is invalid; for a browser's owner also QuotaExceeded
        (too many active runs) and StartedTooSoon (the rate limit; the runs of one group,
        e.g. a lesson's or a compare pair, count as one start).
        """
        limited = classroom.is_limited(owner)
        if limited:
            self._check_rate(owner, group_id)
        run_id = submit_to_store(
            self.store, config, group_id, owner=owner,
            max_active=classroom.max_active_per_owner() if limited else None,
        )  # fmt: skip
        self._wake.set()
        return run_id

    def submit_group(
        self, configs: list[TrainConfig], group_id: str, *, owner: str = classroom.LOCAL_OWNER
    ) -> list[str]:
        """Queue the runs of one action (a lesson, a compare pair) as one group: one start
        for the rate limit, and refused as a whole (QuotaExceeded) when they would take the
        owner past the quota, so a group is never queued in part."""
        if classroom.is_limited(owner):
            limit, active = classroom.max_active_per_owner(), self.store.active_count(owner)
            if active + len(configs) > limit:
                raise QuotaExceeded(active, limit, wanted=len(configs))
        return [self.submit(c, group_id=group_id, owner=owner) for c in configs]

    def _check_rate(self, owner: str, group_id: str | None) -> None:
        now = classroom.now()
        with self._lock:
            last, group = self._last_start.get(owner, (-1e9, None))
            wait = classroom.START_INTERVAL_S - (now - last)
            if wait > 0 and not (group_id is not None and group == group_id):
                raise classroom.StartedTooSoon(wait)
            self._last_start[owner] = (now, group_id)

    def _check_control(self, run_id: str, by: str | None, teacher: bool) -> None:
        if by is None or teacher:
            return
        reason = classroom.control_refusal(self.store.get_run(run_id), by, teacher)
        if reason:
            raise classroom.NotYourRun(reason)

    def cancel(self, run_id: str, *, by: str | None = None, teacher: bool = False) -> str:
        """Dequeue a queued run, or ask a running one to stop; returns the status now.

        ``by``: the owner asking (NotYourRun unless it is theirs or ``teacher``).
        """
        self._check_control(run_id, by, teacher)
        status = self.store.request_cancel(run_id)
        if status == "running":
            with self._lock:
                if run_id in self._active:
                    self._cancel_deadline.setdefault(run_id, time.monotonic() + CANCEL_GRACE_S)
        self._wake.set()
        return status

    def resume(self, run_id: str, *, by: str | None = None, teacher: bool = False) -> None:
        """Queue an interrupted, stopped or failed run again; it continues from its checkpoint."""
        self._check_control(run_id, by, teacher)
        self.store.requeue_for_resume(run_id)
        self._wake.set()

    def delete(self, run_id: str, *, by: str | None = None, teacher: bool = False) -> None:
        """Delete a run that is not running (its row, metrics and files)."""
        self._check_control(run_id, by, teacher)
        self.store.delete_run(run_id)

    def stop_all(self) -> int:
        """The teacher's "stop all": dequeue every queued run, stop every running one."""
        active = self.store.list_runs(statuses=("queued", "running"))
        for run in sorted(active, key=lambda r: r["status"] == "running"):  # queued first
            with contextlib.suppress(RunNotFound):
                self.cancel(run["id"])
        return len(active)

    def start_order(self) -> list[dict]:
        """The queued runs in the order they will start (classroom.fair_order)."""
        return classroom.fair_order(self.store.queued(), *self.store.owner_load())

    def active_ids(self) -> list[str]:
        """Runs this manager's workers are training now."""
        with self._lock:
            return list(self._active)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start (the fair-share order); None when it is not queued."""
        ids = [r["id"] for r in self.start_order()]
        return ids.index(run_id) + 1 if run_id in ids else None

    def wait(self, run_id: str, timeout: float | None = None, poll: float = 0.05) -> dict:
        """Block until the run has a final status; returns its row (TimeoutError on timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.store.get_run(run_id)
            if run["status"] in FINAL:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {run['status']} after {timeout} s")
            time.sleep(poll)

    def start(self) -> None:
        """Start the scheduler thread (and the forkserver, off the caller's thread)."""
        with self._lock:
            if self._thread is not None:
                return
            self._launcher.warm_up()
            self._thread = threading.Thread(target=self._loop, name="aevae-jobs", daemon=True)
            self._thread.start()

    def serve(self, *, exit_when_idle: bool = False) -> None:
        """Run the scheduler in this thread (the CLI worker) until shut down (or idle)."""
        while not self._closed.is_set():
            self._wake.clear()
            self._safe_tick()
            if exit_when_idle and not self.active_ids() and not self.store.queued():
                return
            self._wake.wait(POLL_S)

    def shutdown(self, *, cancel_running: bool = True, timeout: float = 10.0) -> None:
        """Stop scheduling; running jobs end "interrupted" (resumable) and their processes exit.

        A worker that has not stopped within ``timeout`` seconds is terminated. With
        ``cancel_running=False`` running workers are left to finish on their own.
        """
        self._closed.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._tick_lock:
            with self._lock:
                procs = dict(self._active)
            if not cancel_running:
                return
            for run_id in procs:
                with contextlib.suppress(RunNotFound):
                    self.store.request_cancel(run_id, interrupt=True)
            deadline = time.monotonic() + timeout
            for proc in procs.values():
                proc.join(max(0.0, deadline - time.monotonic()))
            for run_id, proc in procs.items():
                if proc.is_alive():
                    log.warning("run %s did not stop in time; terminating its worker", run_id)
                    _stop_process(proc)
                    self.store.finish(
                        run_id, "interrupted", "the job manager shut down; the worker was "
                        "terminated. Resume to continue from the last checkpoint",
                        only_if=RUNNING, pid=proc.pid,
                    )  # fmt: skip
            self._reap()

    # -- scheduling --------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Runs left "running" on this host by processes that are gone become "interrupted"
        (processes.interrupt_orphans); this manager's own workers are left alone."""
        with self._lock:
            active = set(self._active)
        return interrupt_orphans(self.store, self.host, active)

    def _wake_up(self) -> None:
        self.capacity = self._launcher.capacity or self.capacity  # a Ray cluster's, once up
        self._wake.set()

    def _loop(self) -> None:
        next_reconcile = time.monotonic() + RECONCILE_S
        while not self._closed.is_set():
            self._wake.clear()
            self._safe_tick()
            if time.monotonic() > next_reconcile:  # e.g. a foreground CLI run killed -9
                next_reconcile = time.monotonic() + RECONCILE_S
                try:
                    self.reconcile()
                except Exception:
                    log.exception("reconcile failed")
            self._wake.wait(POLL_S)

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # the scheduler must survive a busy database or a bad row
            log.exception("job scheduler tick failed")

    def tick(self, *, start_new: bool = True) -> None:
        """One scheduling pass: record ended workers, then start queued runs in free slots."""
        with self._tick_lock:
            self._reap()
            if start_new and not self._closed.is_set():
                self._start_queued()

    def _reap(self) -> None:
        now = time.monotonic()
        with self._lock:
            items = list(self._active.items())
        for run_id, proc in items:
            if proc.is_alive():
                deadline = self._cancel_deadline.get(run_id)
                if deadline is None or now <= deadline:
                    continue
                log.warning("run %s ignored its stop request; terminating its worker", run_id)
                _stop_process(proc)
                self.store.finish(
                    run_id, "stopped", "stopped by the user (the worker did not stop in time "
                    "and was terminated)", only_if=RUNNING, pid=proc.pid,
                )  # fmt: skip
            proc.join()
            with self._lock:
                self._active.pop(run_id, None)
                self._gpu_of.pop(run_id, None)
                self._cancel_deadline.pop(run_id, None)
            # Still "running" under this worker's pid: it died without recording an end.
            if self.store.finish(
                run_id, "failed", _exit_reason(proc.exitcode), only_if=RUNNING, pid=proc.pid
            ):
                log.warning("run %s failed: %s", run_id, _exit_reason(proc.exitcode))

    def _start_queued(self) -> None:
        if not self._launcher.ready.is_set():  # runs stay "queued" (cancellable) meanwhile
            self._launcher.warm_up()
            return
        with self._lock:
            free = (self._launcher.capacity or self.capacity) - len(self._active)
        if free <= 0:
            return
        for run in self.start_order():
            if free <= 0 or self._closed.is_set():
                break
            run_id = run["id"]
            with self._lock:
                if run_id in self._active:  # its previous worker is still exiting
                    continue
                gpu = pick_gpu(self.gpus, self._gpu_of.values(), self.max_workers)
            if self.gpus and gpu is None:
                break
            if not self.store.claim(run_id, os.getpid(), self.host):
                continue  # another manager took it, or it was cancelled
            proc = self._launcher.process(str(self.store.root), run_id, self.threads_per_job, gpu)
            try:
                proc.start()
            except Exception as exc:
                log.exception("could not start a worker for run %s", run_id)
                self.store.finish(run_id, "failed", f"could not start a worker process: {exc}",
                                  only_if=RUNNING)  # fmt: skip
                continue
            self.store.set_pid(run_id, proc.pid)
            self.store.set_placement(run_id, self.backend, self._launcher.node(proc))
            with self._lock:
                self._active[run_id] = proc
                self._gpu_of[run_id] = gpu
                if self.store.cancel_requested(run_id):  # cancelled while it was starting
                    self._cancel_deadline[run_id] = time.monotonic() + CANCEL_GRACE_S
            free -= 1


_MANAGERS: weakref.WeakSet[JobManager] = weakref.WeakSet()


@atexit.register
def _stop_scheduling() -> None:
    """At interpreter exit no manager starts another worker; multiprocessing's own exit
    hook (registered earlier, so it runs later) then terminates the running workers, which
    record their runs as "interrupted"."""
    for manager in list(_MANAGERS):
        manager._closed.set()
        manager._tick_lock.acquire(timeout=5)  # let a pass in progress end; no more after it
