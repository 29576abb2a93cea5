"""The ``ray`` job backend: each claimed run trains as a task on a Ray cluster.

Chosen by ``AEVAE_BACKEND=ray`` (the app) or ``python -m aevae_core worker --backend ray``;
the manager connects to the cluster at ``RAY_ADDRESS`` (unset: Ray starts one on this
machine). The job manager (jobs.py) drives it exactly like the local forkserver pool
(backends.py): ``process()`` returns a ``RayJob``, a handle with the methods of a
``multiprocessing.Process`` that the manager uses.

The store stays the only writer. The task (ray_task.train_events) never opens SQLite and
needs no shared filesystem: it is a Ray *generator* task whose events (step rows, epoch
rows, snapshots, checkpoint bytes, final metrics) stream back to a thread of the manager,
``RayJob._drive``, which writes them with runner.StoreRecorder, as a local worker does.

Statuses as locally:
* a cancel (the store's flag, polled here) becomes ``ray.cancel``, and the run "stopped";
* a worker or node that dies (``os._exit``, OOM kill, node lost) makes the run "failed",
  with Ray's reason;
* a manager that shuts down cancels its tasks and its runs end "interrupted"; one that dies
  takes its tasks with it (Ray kills the tasks a dead driver owns), and the next manager's
  reconcile finds the run's process (the manager's pid) gone: "interrupted";
* resume: the manager loads ``latest.pt`` (runner.prepare_resume) and passes it to the task.

Resources: ``AEVAE_RAY_CPUS`` CPUs per job (default 1; also its torch threads), plus
``AEVAE_RAY_GPUS`` GPUs (default 1; a fraction such as 0.25 lets four jobs share one) for a
job whose device is ``cuda``, or ``auto`` when the cluster has GPUs. At most
``--max-workers``/``AEVAE_MAX_WORKERS`` jobs at once, else the cluster's CPUs per job.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aevae_core.jobs.processes import default_max_workers
from aevae_core.settings import env_number
from aevae_core.store.runs import CANCEL_INTERRUPT, RunStore

log = logging.getLogger("aevae_core.jobs.manager")

POLL_S = 0.2  # how often a job's thread looks at the store's cancel flag
RETRY_CONNECT_S = 10.0
RUNNING = ("running",)


class RayBackend:
    """Runs claimed runs as Ray tasks; connects (``ray.init``) in a background thread."""

    name = "ray"
    ctx = None  # no multiprocessing context: nothing is forked here

    def __init__(
        self,
        on_ready: Callable[[], None] | None = None,
        *,
        address: str | None = None,
        max_workers: int | None = None,
        task: Callable[..., Any] | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        """``task``: the generator function run remotely (default ray_task.train_events);
        ``runtime_env``: Ray's, for every task (e.g. a test's worker_process_setup_hook)."""
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.cpus = env_number("AEVAE_RAY_CPUS", 1, low=1, integer=True)
        self.gpus = env_number("AEVAE_RAY_GPUS", 1.0, low=0.01)
        # The local pool's rule for AEVAE_MAX_WORKERS, when it is set; else the cluster's size.
        workers_set = bool(os.environ.get("AEVAE_MAX_WORKERS", "").strip())
        self.max_workers = max_workers or (default_max_workers() if workers_set else None)
        self.capacity: int | None = None  # jobs at once; known once connected
        self.cluster_gpus = 0.0
        self.error: str | None = None  # why the last connection attempt failed
        self.ready = threading.Event()
        self._on_ready = on_ready
        self._task_fn = task
        self._runtime_env = runtime_env
        self._remote: Any = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_try = -1e9

    def warm_up(self) -> None:
        """Connect in a thread (again every RETRY_CONNECT_S while the cluster is unreachable)."""
        with self._lock:
            busy = self._thread is not None and self._thread.is_alive()
            if busy or self.ready.is_set() or time.monotonic() - self._last_try < RETRY_CONNECT_S:
                return
            self._last_try = time.monotonic()
            self._thread = threading.Thread(target=self._connect, name="aevae-ray", daemon=True)
            self._thread.start()

    def _connect(self) -> None:
        try:
            import ray

            if not ray.is_initialized():  # this package travels with the job (no shared disk)
                import aevae_core  # the package, wherever this module sits in it

                code = {"py_modules": [str(Path(aevae_core.__file__).resolve().parent)]}
                own = {} if self.address else {"include_dashboard": False}  # a local cluster
                ray.init(address=self.address, log_to_driver=False, runtime_env=code, **own)
            _register_exit_hook()
            from aevae_core.jobs.ray_task import train_events

            fn = self._task_fn or train_events
            self._remote = ray.remote(num_returns="streaming", max_retries=0)(fn)
            total = ray.cluster_resources()
            self.cluster_gpus = float(total.get("GPU", 0))
            by_cpu = max(1, int(total.get("CPU", 1) // self.cpus))
            self.capacity = self.max_workers or by_cpu
            self.error = None
        except Exception as exc:
            self.error = f"cannot connect to the Ray cluster ({self.address or 'local'}): {exc}"
            log.error("%s; runs stay queued", self.error)
            return
        self.ready.set()
        if self._on_ready is not None:
            self._on_ready()
        # Without RAY_ADDRESS, ray.init started the cluster's processes from this thread with
        # PR_SET_PDEATHSIG, which fires when the *thread* that forked them ends: Ray's GCS
        # and raylet would be killed as soon as this function returned. So this (daemon)
        # thread lives as long as the process.
        threading.Event().wait()

    def task_options(self, config: Any) -> dict[str, Any]:
        """What a run's task asks Ray for: CPUs, plus GPUs for a CUDA job."""
        wants_gpu = config.device == "cuda" or (config.device == "auto" and self.cluster_gpus)
        options: dict[str, Any] = {"num_cpus": self.cpus, "num_gpus": self.gpus if wants_gpu else 0}
        if self._runtime_env:
            options["runtime_env"] = self._runtime_env
        return options

    def process(self, root: str, run_id: str, threads: int, gpu: int | None) -> RayJob:
        """A handle (not started) that trains ``run_id`` of the store at ``root`` on Ray.
        ``threads`` and ``gpu`` are the local pool's; a Ray job asks for its own."""
        return RayJob(self, root, run_id)

    def node(self, job: Any) -> str | None:
        """Unknown until the task starts on a node: the job records it then."""
        return None


class RayJob:
    """One run on Ray, seen by the job manager as a worker process: ``start``, ``is_alive``,
    ``join``, ``pid`` (the manager's own: it is what writes the run), ``exitcode``,
    ``terminate`` (ray.cancel) and ``kill`` (ray.cancel with force)."""

    def __init__(self, backend: RayBackend, root: str, run_id: str) -> None:
        self.backend, self.root, self.run_id = backend, root, run_id
        self.pid = os.getpid()
        self.exitcode: int | None = None
        self.name = f"aevae-ray-{run_id}"
        self._stream: Any = None
        self._cancelled = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._drive, name=self.name, daemon=True)

    # -- the Process methods the job manager calls ----------------------------------------
    def start(self) -> None:
        _LIVE.add(self)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def terminate(self) -> None:
        self._cancel(force=False)

    def kill(self) -> None:
        self._cancel(force=True)
        self._abandon.set()

    def _cancel(self, *, force: bool) -> None:
        import ray

        self._cancelled.set()
        if self._stream is not None:
            try:
                ray.cancel(self._stream, force=force)
            except Exception:  # already ended
                log.debug("ray.cancel of run %s", self.run_id, exc_info=True)

    # -- the manager's side of the stream -------------------------------------------------
    def _drive(self) -> None:
        store = RunStore(Path(self.root))
        try:
            status, reason = self._run(store)
            store.finish(self.run_id, status, reason, only_if=RUNNING)
            self.exitcode = 0
        except Exception as exc:
            log.exception("run %s: the Ray job's manager thread failed", self.run_id)
            store.finish(self.run_id, "failed", f"the manager of its Ray task failed: {exc}",
                         only_if=RUNNING)  # fmt: skip
            self.exitcode = 1

    def _run(self, store: RunStore) -> tuple[str, str | None]:
        from aevae_core.jobs import runner

        run_id = self.run_id
        if store.cancel_requested(run_id):
            if store.get_run(run_id)["cancel_requested"] == CANCEL_INTERRUPT:
                return "interrupted", "the job manager shut down before the run started"
            return "stopped", "stopped by the user before training started"
        runner.remove_temp_files(store.run_dir(run_id))
        config = store.config(run_id)
        resume = runner.prepare_resume(store, run_id) if store.get_run(run_id)["resume"] else None
        recorder = runner.StoreRecorder(store, run_id, None, history=(resume or {}).get("history"))
        self._stream = self.backend._remote.options(**self.backend.task_options(config)).remote(
            config.to_json(), resume, self.backend.cpus
        )
        try:
            return self._consume(store, recorder)
        finally:
            runner._close_quietly(recorder)

    def _consume(self, store: RunStore, recorder: Any) -> tuple[str, str | None]:
        import ray
        from ray import exceptions as rx

        node = "a Ray node"
        while True:
            if not self._cancelled.is_set() and store.cancel_requested(self.run_id):
                self.terminate()
            if self._abandon.is_set():
                return self._cancelled_status(store)
            ready, _ = ray.wait([self._stream], timeout=POLL_S)
            if not ready:
                continue
            try:
                event = ray.get(next(self._stream))
            except StopIteration:
                return "failed", f"its Ray task on {node} ended without a final status"
            except rx.TaskCancelledError:
                return self._cancelled_status(store)
            except rx.RayTaskError as exc:  # an error the task did not handle
                return "failed", f"its Ray task on {node} failed: {exc.cause!r}"[:500]
            except rx.RayError as exc:  # the worker or its node died, the object was lost
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                return "failed", f"its Ray worker on {node} died ({type(exc).__name__}: {why})"
            kind = event["kind"]
            if kind == "start":
                node = event["node"]
                store.set_placement(self.run_id, "ray", node)
                recorder.on_fit_start(None, None, event["total_steps"])
            elif kind == "steps":
                for row in event["rows"]:
                    recorder.on_step(row)
            elif kind == "epoch":
                recorder.write_epoch(
                    event["record"], event["snapshot"], event["weights"], event["latest"],
                    event["cpu_s"],
                )  # fmt: skip
            elif kind == "metrics":
                store.write_run_metrics(self.run_id, event["values"]["epoch"], event["values"])
            elif kind == "end":
                return self._final_status(store, event)

    def _final_status(self, store: RunStore, end: dict) -> tuple[str, str | None]:
        """The task's own end; "stopped" becomes "interrupted" for a shutting-down manager,
        as in runner.execute_run."""
        status, reason = end["status"], end["reason"]
        if (
            status == "stopped"
            and store.get_run(self.run_id)["cancel_requested"] == CANCEL_INTERRUPT
        ):
            return self._cancelled_status(store)
        return status, reason

    def _cancelled_status(self, store: RunStore) -> tuple[str, str]:
        run = store.get_run(self.run_id)
        epoch = run["last_epoch"]
        if run["cancel_requested"] == CANCEL_INTERRUPT:
            return "interrupted", (
                f"the job manager shut down during epoch {epoch + 1}; resume to continue from "
                f"the last checkpoint (epoch {epoch})"
                if epoch
                else "the job manager shut down before the first epoch ended"
            )
        return "stopped", f"stopped by the user during epoch {epoch + 1}"


_LIVE: weakref.WeakSet[RayJob] = weakref.WeakSet()


_hooked: list[bool] = []


def _register_exit_hook() -> None:
    """Once, after ``ray.init``: atexit runs the last registered first, so this runs before
    Ray's own exit hook ends the tasks (which the job threads would record as "failed")."""
    if not _hooked:
        _hooked.append(True)
        atexit.register(_interrupt_at_exit)


def _interrupt_at_exit() -> None:
    """The manager's interpreter is exiting (its tasks die with it, Ray's fate sharing):
    their runs end "interrupted" now rather than at the next manager's reconcile."""
    for job in list(_LIVE):
        if not job.is_alive():
            continue
        store = RunStore(Path(job.root))
        epoch = store.get_run(job.run_id)["last_epoch"]
        store.finish(
            job.run_id, "interrupted", f"the job manager exited during epoch {epoch + 1}; resume "
            f"to continue from the last checkpoint (epoch {epoch})", only_if=RUNNING,
        )  # fmt: skip
        job._abandon.set()  # after: its thread must not record the end first
