"""The server's shared view of the store (aevae_core.jobs.live_view): one read serves every
session, what this process writes is seen at once, metric rows are read incrementally and
stay exactly the store's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aevae_core.config import TrainConfig
from aevae_core.jobs.live_view import LiveView
from aevae_core.jobs.manager import JobManager
from aevae_core.store.runs import RunStore

CONFIG = TrainConfig(dataset="digits", epochs=3, latent_dim=2)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_many_readers_within_max_age_share_one_read(store: RunStore):
    store.create_run(CONFIG)
    view = LiveView(store, max_age=60)
    for _ in range(30):  # 30 sessions' refreshes
        assert len(view.runs()) == 1
    assert view.reads == 1
    other = RunStore(store.root)  # another process (a worker) writes: seen after max_age
    other.create_run(CONFIG)
    assert len(view.runs()) == 1
    view.max_age = 0.0
    time.sleep(0.01)
    assert len(view.runs()) == 2


def test_a_write_through_this_process_is_seen_at_once(store: RunStore):
    run_id = store.create_run(CONFIG)
    view = LiveView(store, max_age=60)
    assert [r["status"] for r in view.runs()] == ["queued"]
    store.finish(run_id, "stopped", "test")
    assert [r["status"] for r in view.runs()] == ["stopped"]
    assert view.runs(("queued", "running")) == []


def test_queue_position_is_the_managers_fair_share_order(store: RunStore):
    manager = JobManager(store.root, max_workers=1, start=False)
    try:
        ids = {}
        for owner, n in (("a", 3), ("b", 1), ("c", 2)):
            ids[owner] = [store.create_run(CONFIG, owner=owner) for _ in range(n)]
        running = store.create_run(CONFIG, owner="a")
        assert store.claim(running, 1, "host")
        view = LiveView(store)
        every = [i for owner_ids in ids.values() for i in owner_ids]
        expected = {i: manager.queue_position(i) for i in every}
        assert {i: view.queue_position(i) for i in every} == expected
        assert sorted(expected.values()) == list(range(1, len(every) + 1))
        assert view.queue_position(running) is None
    finally:
        manager.shutdown()


def _rows(store: RunStore, run_id: str, steps: range) -> None:
    store.add_metrics(run_id, [("step", s // 10, s, {"loss": float(s)}) for s in steps])


def test_metric_rows_are_read_incrementally_and_equal_the_stores(store: RunStore):
    run_id = store.create_run(CONFIG)
    assert store.claim(run_id, 1, "host")
    view = LiveView(store, max_age=60)
    other = RunStore(store.root)  # the worker's own connection: no in-process write count
    _rows(other, run_id, range(0, 50))
    first = view.metrics(store.get_run(run_id), "step")
    assert [r["step"] for r in first] == list(range(50))
    _rows(other, run_id, range(50, 80))
    other.update_progress(run_id, last_step=79)
    assert len(view.metrics(store.get_run(run_id), "step")) == 50  # within max_age
    view.max_age = 0.0
    rows = view.metrics(store.get_run(run_id), "step")
    assert rows == store.metrics(run_id, "step")
    assert view.reads == 2


def test_rows_read_after_the_run_ended_are_final(store: RunStore):
    run_id = store.create_run(CONFIG)
    assert store.claim(run_id, 1, "host")
    _rows(store, run_id, range(0, 20))
    store.finish(run_id, "completed")
    time.sleep(0.01)
    view = LiveView(store, max_age=0.0)
    run = store.get_run(run_id)
    for _ in range(5):
        assert len(view.metrics(run, "step")) == 20
    assert view.reads == 1


def test_a_run_that_ends_within_max_age_of_a_read_shows_all_its_rows(store: RunStore):
    """A short run (CI: the Train page's chart stayed empty) ends, in the worker's process,
    less than max_age after a panel read none of its rows: the panel that then sees it
    ended must show every row, not the rows held from before the end."""
    run_id = store.create_run(CONFIG)
    assert store.claim(run_id, 1, "host")
    view = LiveView(store, max_age=60)
    assert view.metrics(store.get_run(run_id), "step") == []
    other = RunStore(store.root)  # the worker's own connection: no in-process write count
    _rows(other, run_id, range(0, 20))
    time.sleep(0.01)
    other.finish(run_id, "completed")
    run = store.get_run(run_id)
    assert len(view.metrics(run, "step")) == 20
    reads = view.reads
    assert len(view.metrics(run, "step")) == 20
    assert view.reads == reads, "rows read after the end are final"


def test_a_resumed_run_is_read_anew(store: RunStore):
    run_id = store.create_run(CONFIG)
    assert store.claim(run_id, 1, "host")
    _rows(store, run_id, range(0, 30))
    store.update_progress(run_id, last_step=29)
    view = LiveView(store, max_age=0.0)
    assert len(view.metrics(store.get_run(run_id), "step")) == 30
    store.finish(run_id, "stopped", "test")
    with store._connect() as db:  # what requeue + claim do to a resumed run, in short
        db.execute("UPDATE runs SET status='queued' WHERE id=?", (run_id,))
    time.sleep(0.01)
    assert store.claim(run_id, 1, "host")
    store.truncate_metrics(run_id, after_epoch=1)  # rows past the checkpoint are dropped
    store.update_progress(run_id, last_step=19)
    _rows(store, run_id, range(20, 25))
    assert view.metrics(store.get_run(run_id), "step") == store.metrics(run_id, "step")
