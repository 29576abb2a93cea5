"""Worker processes as the job manager sees them: how many may run, whether one is alive,
and how one ended, and the runs whose process is gone. Split out of manager.py."""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from aevae_core.settings import env_number
from aevae_core.store.runs import process_birth

log = logging.getLogger("aevae_core.jobs.manager")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def gpu_available() -> bool:
    """Whether a CUDA GPU is visible, asked without importing torch (engine/devices.py): the
    server creates a job manager on its first page, which must not wait for torch."""
    from aevae_core.engine.devices import gpu_devices

    return bool(gpu_devices())


def threads_per_job(capacity: int, cores: int | None = None) -> int:
    """Torch threads for each of ``capacity`` concurrent CPU jobs: the cores but one, shared.

    One core stays with the server (and, on a teacher's laptop, the browser). A job's
    threads wait for each other at every parallel operation, so a core the server takes
    stalls them all: the quick start (2-D VAE, 20 epochs of digits) took 9.6-19 s with 2
    threads beside a busy server on 2 cores, 8.2-9.1 s with 1.
    """
    cores = cpu_count() if cores is None else cores
    return max(1, (cores - 1) // max(1, capacity))


def default_max_workers() -> int:
    """``AEVAE_MAX_WORKERS`` if set; else half the cores, 1 to 4 (at least 2 with a GPU).

    CPU jobs share the cores but one (``threads_per_job``), so more jobs only split them.
    GPU jobs need little CPU and small models leave the GPU mostly idle, so two or more
    share it well (a class server with one GPU and many students).
    """
    env = os.environ.get("AEVAE_MAX_WORKERS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            log.warning("AEVAE_MAX_WORKERS=%r is not an integer; using the default", env)
    n = max(1, min(4, cpu_count() // 2))
    return max(2, n) if gpu_available() else n


WORKER_NICE = 10  # default niceness of the forkserver, its warm-up and the training jobs


def worker_nice() -> int:
    """``AEVAE_WORKER_NICE`` (0-19; default 10): how much lower than the server the workers
    run, so that page renders stay responsive while jobs train on the same cores."""
    return env_number("AEVAE_WORKER_NICE", WORKER_NICE, low=0, high=19, integer=True)


def lower_priority() -> int:
    """Raise this process's niceness to ``worker_nice()`` (never lower it); returns it.

    Called in the forkserver before it imports torch, and in every worker: the server's
    renders then win the cores over the warm-up and the training steps.
    """
    try:
        now = os.nice(0)
        target = worker_nice()
        return os.nice(target - now) if now < target else now
    except OSError:  # not allowed here: stay as we are
        return 0


def pid_alive(pid: int | None, birth: int | None = None) -> bool:
    """Whether ``pid`` is a live process (not a zombie), and the same one when ``birth`` is set."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:  # a zombie has exited; it only waits to be reaped
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust kill(0)
    now = process_birth(pid)
    return birth is None or now is None or now == birth


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (often: out of memory)" if name == "SIGKILL" else ""
        return f"the worker process was killed by {name}{hint} before the run ended"
    return (
        f"the worker process exited with code {exitcode} before the run ended (see the server log)"
    )


def _stop_process(proc: Any) -> None:
    proc.terminate()
    proc.join(1.0)
    if proc.is_alive():
        proc.kill()
        proc.join(1.0)


def interrupt_orphans(store: Any, host: str, active: set[str]) -> list[str]:
    """Runs left "running" on ``host`` by processes that are gone become "interrupted";
    returns their ids.

    A run is left alone while it is in ``active`` (the caller's own workers), while its
    worker lives, or while the process that claimed it (another manager) lives: that
    process records how its worker ended.
    """
    changed = []
    for run in store.list_runs(statuses=("running",)):
        if run["id"] in active or run["host"] not in (None, host):
            continue
        if pid_alive(run["pid"], run["pid_birth"]):
            continue
        if run["owner_pid"] and pid_alive(run["owner_pid"], run["owner_birth"]):
            continue
        has_ckpt = store.checkpoint_path(run["id"], "latest").exists()
        reason = f"the process running it (pid {run['pid']}) ended without finishing it, " + (
            f"e.g. the server was restarted; resume to continue after epoch {run['last_epoch']}"
            if has_ckpt
            else "before the first epoch ended; there is no checkpoint to resume from"
        )
        if store.finish(run["id"], "interrupted", reason, only_if=("running",)):
            log.info("run %s: interrupted (%s)", run["id"], reason)
            changed.append(run["id"])
    return changed
