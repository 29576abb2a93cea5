"""One reader of the run store for every session of a server: what live widgets show.

A class of 30 on one server means 30 live panels and 30 sidebar job lists, each refreshing
on its own timer (every 0.5-2 s). Read by each of them, the store answered ~10 queries per
refresh, and each query (a SQLite call, which releases Python's GIL) had to win the GIL
back from 30 busy threads: under load one query cost milliseconds of waiting. Here the
server keeps one shared view: the runs table is read at most once per ``max_age`` seconds
whoever asks, and a run's metric rows are read incrementally (only the rows after the last
step seen), so 30 sessions watching cost about what one does.

The list of runs may be up to ``max_age`` old, except for what this process changes (a
session starts, stops, names or deletes a run, the manager starts one): every write
through the store counts (``RunStore.writes``), and the view reads again after one. One
run's row is cheap to read (an indexed lookup), so the pages read it from the store
itself, and a status on screen is never stale. Everything here is read-only.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aevae_core.jobs.classroom import fair_order
from aevae_core.store.record import ACTIVE, Run
from aevae_core.store.runs import RunStore

MAX_AGE_S = 0.25  # half the live panel's refresh interval
# A run's rows nobody asked for in this long are dropped (read in full when asked again):
# memory stays bounded, and a resume that truncated rows under an idle entry is re-read.
IDLE_S = 5.0


class LiveView:
    """A shared, at most ``max_age``-old view of the runs and their metric rows."""

    def __init__(self, store: RunStore, max_age: float = MAX_AGE_S) -> None:
        self.store = store
        self.max_age = max_age
        self._lock = threading.Lock()
        self._runs: list[Run] = []
        self._read_at = -float("inf")
        self._writes = -1  # the store's write count at the last read
        self._metrics: dict[tuple[str, str], _Held] = {}  # (run id, kind) -> its rows
        self.reads = 0  # store queries made (the bench and the tests count them)

    # -- runs ----------------------------------------------------------------------------
    def runs(self, statuses: tuple[str, ...] | None = None) -> list[Run]:
        """All runs (pinned first, then newest), or those with one of ``statuses``."""
        with self._lock:
            writes = self.store.writes
            if time.monotonic() - self._read_at > self.max_age or writes != self._writes:
                self._writes = writes  # before the read: a write during it reads again
                self._runs = self.store.list_runs()
                self._read_at = time.monotonic()
                self.reads += 1
            runs = self._runs
        return [r for r in runs if statuses is None or r["status"] in statuses]

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start (``classroom.fair_order``, as the manager starts
        them); None when the run is not queued."""
        runs = self.runs()
        queued = [r for r in runs if r["status"] == "queued"]
        if not any(r["id"] == run_id for r in queued):
            return None
        running = Counter(r["owner"] for r in runs if r["status"] == "running")
        last: dict[str, float] = {}
        for r in runs:
            if r["started"] is not None:
                last[r["owner"]] = max(last.get(r["owner"], r["started"]), r["started"])
        order = [r["id"] for r in fair_order(queued, running, last)]
        return order.index(run_id) + 1

    # -- metrics -------------------------------------------------------------------------
    def metrics(self, run: Run, kind: str = "epoch") -> list[dict]:
        """The metric rows of ``kind`` ("epoch" or "step") of ``run`` (its row, as the
        caller just read it), oldest first.

        While the run is active, only rows after the last step already held are read, at
        most once per ``max_age``; once ``run`` shows it ended, the rows are read once more
        if the last read came before its end, and are final after that. A resumed run
        (its rows past the checkpoint are dropped, and it gets a new start time) is read
        anew.
        """
        run_id = run["id"]
        key, started, now = (run_id, kind), run["started"], time.monotonic()
        with self._lock:
            held = self._metrics.get(key)
            if (
                held is not None
                and held.started == started
                and now - held.used <= IDLE_S
                # a resume drops the rows past its checkpoint: progress behind them says so
                and not (run["status"] == "running" and (run["last_step"] or 0) < held.last_step)
            ):
                held.used = now
                ended = run["ended"] if run["status"] not in ACTIVE else None
                if ended is not None:
                    # The caller saw the run end: its rows are final once read after the end,
                    # and must be read again otherwise, however fresh (a run that ends within
                    # max_age of a read otherwise kept its chart empty).
                    if held.read_wall > ended:
                        return held.rows
                elif now - held.read <= self.max_age and held.writes == self.store.writes:
                    return held.rows
                read_wall, writes = time.time(), self.store.writes  # before the query
                held.rows = held.rows + self.store.metrics(run_id, kind, after_step=held.last_step)
            else:
                read_wall, writes = time.time(), self.store.writes
                held = _Held(started, self.store.metrics(run_id, kind), now)
                self._metrics[key] = held
            held.read, held.read_wall, held.writes = now, read_wall, writes
            held.last_step = held.rows[-1]["step"] if held.rows else -1
            self.reads += 1
            for old in [k for k, h in self._metrics.items() if now - h.used > IDLE_S]:
                del self._metrics[old]
            return held.rows


@dataclass
class _Held:
    """A run's metric rows of one kind as last read, and when."""

    started: Any  # the run's start time then: a resumed run starts again (rows were dropped)
    rows: list[dict]
    used: float  # monotonic: last asked for (entries idle for IDLE_S are dropped)
    read: float = 0.0  # monotonic: last read from the store
    read_wall: float = 0.0  # wall clock, just before that read
    writes: int = -1  # the store's write count then
    last_step: int = -1
