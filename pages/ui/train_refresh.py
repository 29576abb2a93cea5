"""How often the Train page's live panel refreshes, and how long a full rerun waits for a
run's first step (pages/ui/train_live.py draws the panel; tests/app/test_class_server.py
checks the intervals)."""

from __future__ import annotations

import time

from aevae_core.store.record import Run
from pages.ui.common import get_run

REFRESH_S = 0.5
FIRST_POINT_REFRESH_S = 0.25  # while a starting run's first step is on its way
FIRST_POINT_WAIT_S = 0.5  # what a full rerun waits for it
FIRST_POINT_POLL_S = 0.05
JUST_STARTED_S = 2.0  # a run started longer ago with no step is not waited for
QUEUED_REFRESH_S = 2.0


def refresh_every(
    status: str | None, position: int | None, free: int, stepped: bool = True
) -> float | None:
    """2/s while the run trains or is next for one of the ``free`` workers (not faster: the
    browser's redraws would slow the forkserver's start), 4/s once started with no step yet
    (``stepped``), every 2 s further back in the queue (30 queued panels at 2/s were a third
    of a class server's script runs), never once it has ended."""
    if status == "running":
        return REFRESH_S if stepped else FIRST_POINT_REFRESH_S
    if status == "queued" and position is not None and position <= free:
        return REFRESH_S
    return QUEUED_REFRESH_S if status == "queued" else None


def first_step(run_id: str, run: Run | None) -> Run | None:
    """A run started in the last ``JUST_STARTED_S`` with no step yet: its row once its first
    step is in, at most ``FIRST_POINT_WAIT_S`` from now (a warm worker's came 0.06-0.32 s
    after its start on 2 cores). The page then goes out with the point; the next refresh
    came about 1 s later on 2 cores, the browser still drawing the page."""
    deadline = time.monotonic() + FIRST_POINT_WAIT_S
    while (
        run is not None and run["status"] == "running" and not run["last_step"]
        and time.time() - (run["started"] or 0) < JUST_STARTED_S
        and time.monotonic() < deadline
    ):  # fmt: skip
        time.sleep(FIRST_POINT_POLL_S)
        run = get_run(run_id)
    return run
