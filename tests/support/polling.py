"""Waiting in tests: poll until something holds, or fail saying what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aevae_core.store.record import FINAL, Run
from aevae_core.store.runs import RunStore


def wait_until(predicate: Callable[[], Any], what: str, timeout: float, poll: float = 0.02) -> Any:
    """Call ``predicate`` every ``poll`` seconds until it returns something truthy (returned);
    AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def wait_final(store: RunStore, run_id: str, timeout: float, poll: float = 0.02) -> Run:
    """The run's row once its status is final."""
    return wait_until(
        lambda: (run := store.get_run(run_id))["status"] in FINAL and run, f"{run_id} to end",
        timeout, poll,
    )  # fmt: skip
