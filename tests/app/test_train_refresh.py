"""The live panel's wait for a just-started run's first step (pages/ui/train_refresh.py)."""

from __future__ import annotations

import time

import pytest

from pages.ui import train_refresh


def rows(*last_steps: int, status: str = "running", started_ago: float = 0.1) -> list[dict]:
    started = time.time() - started_ago
    return [{"status": status, "last_step": s, "started": started} for s in last_steps]


class Reads(list):
    """The rows get_run returns, one per call (the last one repeated); ``calls`` counts them."""

    calls = 0

    def get_run(self, run_id: str) -> dict:
        self.calls += 1
        return self.pop(0) if len(self) > 1 else self[0]


@pytest.fixture
def reads(monkeypatch):
    queue = Reads()
    monkeypatch.setattr(train_refresh, "get_run", queue.get_run)
    return queue


def test_a_just_started_run_is_returned_with_its_first_step(reads):
    first, *later = rows(0, 0, 0, 1)
    reads.extend(later)
    run = train_refresh.first_step("r", first)
    assert run["last_step"] == 1 and reads.calls == 3  # read until the step came, no longer


def test_the_wait_is_bounded_when_no_step_comes(reads):
    first, later = rows(0, 0)
    reads.append(later)
    t0 = time.monotonic()
    run = train_refresh.first_step("r", first)
    waited = time.monotonic() - t0
    assert run["last_step"] == 0 and waited >= train_refresh.FIRST_POINT_WAIT_S
    polls = train_refresh.FIRST_POINT_WAIT_S / train_refresh.FIRST_POINT_POLL_S
    assert reads.calls <= polls + 1  # then it gave up


@pytest.mark.parametrize(
    "run",
    [
        rows(0, status="queued")[0],  # not started: the refresh interval handles it
        rows(0, started_ago=train_refresh.JUST_STARTED_S + 3)[0],  # no wait on each rerun
        rows(7)[0],  # has its steps (or resumed from a checkpoint)
        None,  # deleted
    ],
)
def test_no_wait_otherwise(reads, run):
    reads.append({"status": "running", "last_step": 99, "started": time.time()})
    assert train_refresh.first_step("r", run) is run and reads.calls == 0
