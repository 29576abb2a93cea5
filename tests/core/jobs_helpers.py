"""Shared by the tests that run real worker processes (test_jobs.py, test_faults.py): the
small configs, polling with a deadline, and a fixture-made JobManager that leaves no worker
behind."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from support import polling

from aevae_core.config import TrainConfig
from aevae_core.jobs.manager import JobManager
from aevae_core.jobs.processes import pid_alive
from aevae_core.store.runs import RunStore

TIMEOUT = 120.0  # generous: the machine may be shared; nothing here asserts durations

# One epoch, a few steps: finishes in well under a second once the forkserver is warm.
QUICK = TrainConfig(
    dataset="digits", max_samples=300, epochs=1, batch_size=32, hidden=(32,), threads=1,
    log_every=2,
)  # fmt: skip


def wait_until(predicate, what: str, timeout: float = TIMEOUT, poll: float = 0.02):
    return polling.wait_until(predicate, what, timeout, poll)


def wait_final(store: RunStore, run_id: str, timeout: float = TIMEOUT) -> dict:
    return polling.wait_final(store, run_id, timeout)


def worker_pid(store: RunStore, run_id: str) -> int:
    """The worker's pid once it is recorded (the claim records the manager's own pid)."""
    return wait_until(
        lambda: (
            (run := store.get_run(run_id))["pid"] not in (None, run["owner_pid"], os.getpid())
            and run["pid"]
        ),
        f"{run_id}'s worker pid",
    )


def manager_factory(runs_dir: Path) -> Iterator[Callable[..., JobManager]]:
    """Body of the ``managers`` fixture: make managers on ``runs_dir``; at the end shut them
    down and check that no worker of any run outlives them."""
    made: list[JobManager] = []

    def make(**kwargs) -> JobManager:
        kwargs.setdefault("max_workers", 1)
        manager = JobManager(runs_dir, **kwargs)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.shutdown(timeout=10)
    for manager in made:
        assert manager.active_ids() == []
    if made:
        for run in RunStore(runs_dir).list_runs():
            if run["pid"] and run["pid"] != os.getpid():
                wait_until(lambda r=run: not pid_alive(r["pid"], r["pid_birth"]), "no workers")
