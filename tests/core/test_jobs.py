"""aevae_core.jobs.manager with real worker processes: queue, limits, cancel, crashes, restart.

Workers are forked by a forkserver that this test process starts once (the first test pays
for it); every test uses a fresh store and shuts its managers down, then checks that no
worker process is left.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from jobs_helpers import QUICK, TIMEOUT, wait_final, wait_until, worker_pid

from aevae_core.config import TrainConfig
from aevae_core.jobs.manager import JobManager
from aevae_core.jobs.processes import default_max_workers, pid_alive, threads_per_job
from aevae_core.jobs.runner import execute_run
from aevae_core.model.checkpoint import load_checkpoint, model_from_checkpoint
from aevae_core.store.record import FINAL
from aevae_core.store.runs import RunStore

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]

# Several short epochs (90 steps each), long enough to act mid-epoch.
MEDIUM = TrainConfig(
    dataset="digits", max_samples=800, epochs=5, batch_size=8, hidden=(32,), threads=1,
    log_every=5,
)  # fmt: skip
# Runs until it is stopped or killed (400 steps per epoch, 500 epochs).
ENDLESS = TrainConfig(dataset="digits", epochs=500, batch_size=4, hidden=(64,), threads=1)


def wait_mid_epoch(store: RunStore, run_id: str, after_epoch: int = 1) -> dict:
    """Until the run has finished ``after_epoch`` epochs and logged a step of a later one."""

    def mid():
        run = store.get_run(run_id)
        assert run["status"] in ("queued", "running"), run
        if run["last_epoch"] < after_epoch:
            return None
        later = store.metrics(run_id, "step", after_step=run["last_step"] - 1)
        return run if any(m["epoch"] > run["last_epoch"] for m in later) else None

    return wait_until(mid, f"{run_id} to be mid-epoch after epoch {after_epoch}")


def epochs_of(store: RunStore, run_id: str) -> list[int]:
    return [m["epoch"] for m in store.metrics(run_id, "epoch")]


# ----------------------------------------------------------------------------- basics


def test_submit_queues_and_a_worker_records_everything(managers):
    manager = managers(start=False)
    run_id = manager.submit(QUICK.replace(epochs=2))
    assert manager.store.get_run(run_id)["status"] == "queued"
    assert manager.queue_position(run_id) == 1
    manager.start()
    run = wait_final(manager.store, run_id)
    assert run["status"] == "completed" and run["reason"] is None
    assert run["pid"] != os.getpid() and run["owner_pid"] == os.getpid()
    history = manager.store.metrics(run_id, "epoch")
    assert [h["epoch"] for h in history] == [1, 2]
    assert run["last_epoch"] == 2 and run["val_loss"] == pytest.approx(history[-1]["val_loss"])
    steps = manager.store.metrics(run_id, "step")
    assert steps and [m["step"] for m in steps] == sorted({m["step"] for m in steps})
    assert manager.store.snapshot_epochs(run_id) == [1, 2]
    snap = manager.store.read_snapshot(run_id, 2)
    assert snap["images"].dtype == snap["recons"].dtype == "uint8"
    assert snap["images"].shape == snap["recons"].shape and snap["images"].shape[1:] == (1, 8, 8)
    assert snap["codes"].shape == (len(snap["code_idx"]), 2) and len(snap["labels"]) > 0
    latest = load_checkpoint(manager.store.checkpoint_path(run_id, "latest"))
    best = load_checkpoint(manager.store.checkpoint_path(run_id, "best"))
    assert latest["epoch"] == 2
    assert best["epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]
    model_from_checkpoint(latest)
    assert manager.queue_position(run_id) is None


def test_ten_submissions_respect_the_limit_in_fifo_order(managers):
    manager = managers(max_workers=2)
    ids = [manager.submit(QUICK) for _ in range(10)]
    most = 0
    while True:
        runs = [manager.store.get_run(i) for i in ids]
        most = max(most, sum(r["status"] == "running" for r in runs))
        assert len(manager.active_ids()) <= 2
        if all(r["status"] in FINAL for r in runs):
            break
        time.sleep(0.01)
    assert [r["status"] for r in runs] == ["completed"] * 10
    assert most <= 2
    # Exact check on the recorded intervals: never more than two runs between claim and end.
    events = sorted([(r["started"], 1) for r in runs] + [(r["ended"], -1) for r in runs])
    overlap = max(itertools.accumulate(delta for _, delta in events))
    assert overlap <= 2
    assert [r["id"] for r in sorted(runs, key=lambda r: r["started"])] == ids  # FIFO


def test_submit_from_eight_threads(managers):
    manager = managers(start=False)
    barrier = threading.Barrier(8)
    ids: list[str] = []
    errors: list[BaseException] = []

    def submit_five() -> None:
        try:
            barrier.wait()
            ids.extend(manager.submit(QUICK.replace(seed=i)) for i in range(5))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit_five) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(ids) == len(set(ids)) == 40
    queued = manager.store.queued()
    assert sorted(r["id"] for r in queued) == sorted(ids)
    assert [r["seq"] for r in queued] == list(range(1, 41))
    threads = [
        threading.Thread(target=lambda chunk=ids[i::8]: [manager.cancel(r) for r in chunk])
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert manager.store.queued() == []
    assert {r["status"] for r in manager.store.list_runs()} == {"stopped"}


def test_default_max_workers_and_thread_share(monkeypatch, runs_dir):
    monkeypatch.setenv("AEVAE_MAX_WORKERS", "3")
    assert default_max_workers() == 3
    monkeypatch.setenv("AEVAE_MAX_WORKERS", "lots")
    assert default_max_workers() >= 1
    monkeypatch.delenv("AEVAE_MAX_WORKERS")
    assert 1 <= default_max_workers() <= 4
    manager = JobManager(runs_dir, max_workers=2, start=False)
    cores = len(os.sched_getaffinity(0))
    assert manager.threads_per_job == max(1, (cores - 1) // 2)


@pytest.mark.parametrize(
    "cores, capacity, threads", [(1, 1, 1), (2, 1, 1), (4, 1, 3), (4, 2, 1), (16, 4, 3), (8, 9, 1)]
)
def test_jobs_share_every_core_but_the_servers(cores, capacity, threads):
    assert threads_per_job(capacity, cores) == threads


# ----------------------------------------------------------------------------- cancel


def test_cancel_running_keeps_its_checkpoint_and_resume_finishes(managers):
    manager = managers()
    run_id = manager.submit(MEDIUM.replace(epochs=6, batch_size=4))
    wait_until(lambda: manager.store.get_run(run_id)["last_epoch"] >= 1, "epoch 1")
    assert manager.cancel(run_id) == "running"
    run = wait_final(manager.store, run_id)
    assert run["status"] == "stopped" and "stopped by the user" in run["reason"]
    assert 1 <= run["last_epoch"] < 6
    ckpt = load_checkpoint(manager.store.checkpoint_path(run_id, "latest"))
    assert ckpt["epoch"] == run["last_epoch"]
    wait_until(lambda: not pid_alive(run["pid"]), "the worker to exit")

    manager.resume(run_id)
    run = wait_final(manager.store, run_id)
    assert run["status"] == "completed", run["reason"]
    assert epochs_of(manager.store, run_id) == [1, 2, 3, 4, 5, 6]  # no duplicates, no gaps
    steps = [m["step"] for m in manager.store.metrics(run_id, "step")]
    assert steps == sorted(set(steps))
    assert manager.store.snapshot_epochs(run_id) == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(manager.store.checkpoint_path(run_id, "latest"))["epoch"] == 6


def test_cancel_queued_removes_it_from_the_queue(managers):
    manager = managers(max_workers=1)
    first = manager.submit(ENDLESS)
    second = manager.submit(QUICK)
    wait_until(lambda: manager.store.get_run(first)["status"] == "running", "first to run")
    assert manager.queue_position(second) == 1
    assert manager.cancel(second) == "stopped"
    run = manager.store.get_run(second)
    assert run["reason"] == "cancelled before it started" and run["started"] is None
    assert manager.queue_position(second) is None
    assert manager.cancel(first) == "running"
    assert wait_final(manager.store, first)["status"] == "stopped"
    time.sleep(0.5)  # the scheduler has had its chances to (wrongly) start it
    assert manager.store.get_run(second)["status"] == "stopped"
    assert manager.store.metrics(second, "step") == []


def test_cancel_while_the_worker_starts(managers):
    manager = managers()
    run_id = manager.submit(ENDLESS)
    wait_until(lambda: manager.store.get_run(run_id)["status"] == "running", "the claim", poll=0)
    manager.cancel(run_id)  # the worker process is being forked or is loading its data
    run = wait_final(manager.store, run_id)
    assert run["status"] == "stopped", run["reason"]
    assert run["last_epoch"] == 0
    # ... and a run cancelled before any manager claimed it never starts.
    run_id = manager.submit(ENDLESS)
    manager.cancel(run_id)
    run = wait_final(manager.store, run_id)
    assert run["status"] == "stopped" and run["started"] is None


# ----------------------------------------------------------------------------- crashes


def test_kill_9_mid_epoch_fails_the_run_and_keeps_what_it_wrote(managers):
    manager = managers(max_workers=2)
    victim = manager.submit(ENDLESS)
    other = manager.submit(MEDIUM.replace(epochs=3, seed=1))
    wait_mid_epoch(manager.store, victim, after_epoch=1)
    before = manager.store.metrics(victim, "step")
    pid = manager.store.get_run(victim)["pid"]  # the worker's, recorded in runs.pid
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    run = wait_final(manager.store, victim)
    assert run["status"] == "failed" and "SIGKILL" in run["reason"]
    after = manager.store.metrics(victim, "step")
    assert after[: len(before)] == before  # everything flushed before the kill is kept
    assert epochs_of(manager.store, victim) == list(range(1, run["last_epoch"] + 1))
    ckpt = load_checkpoint(manager.store.checkpoint_path(victim, "latest"))
    assert ckpt["epoch"] >= 1
    model, _ = model_from_checkpoint(ckpt)
    assert all(math.isfinite(float(p.detach().sum())) for p in model.parameters())
    # The other job and the manager go on.
    assert wait_final(manager.store, other)["status"] == "completed"
    assert wait_final(manager.store, manager.submit(QUICK))["status"] == "completed"
    # A failed run with a checkpoint can be resumed.
    manager.resume(victim)
    assert manager.store.get_run(victim)["status"] in ("queued", "running")
    manager.cancel(victim)


def test_worker_killed_before_it_writes_anything(managers):
    manager = managers()
    run_id = manager.submit(ENDLESS)
    os.kill(worker_pid(manager.store, run_id), signal.SIGKILL)
    run = wait_final(manager.store, run_id)
    assert run["status"] == "failed" and "killed by SIGKILL" in run["reason"]
    assert wait_final(manager.store, manager.submit(QUICK))["status"] == "completed"


def test_a_crash_in_user_data_fails_with_the_reason(managers, tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not an npz file")
    manager = managers()
    run_id = manager.submit(QUICK.replace(dataset="custom", data_path=str(bad)))
    run = wait_final(manager.store, run_id)
    assert run["status"] == "failed"
    assert "DatasetError" in run["reason"] or "npz" in run["reason"], run["reason"]
    assert manager.store.metrics(run_id, "step") == []
    assert wait_final(manager.store, manager.submit(QUICK))["status"] == "completed"


class FakeProcess:
    """A worker process that has already exited (for the reaper's bookkeeping)."""

    def __init__(self, pid: int, exitcode: int) -> None:
        self.pid, self.exitcode = pid, exitcode

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        pass


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_reaper_records_deaths_and_leaves_final_statuses_alone(managers):
    manager = managers(start=False)
    store = manager.store
    runs = {name: store.create_run(QUICK) for name in ("done", "killed", "exited", "taken")}
    pids = {name: dead_pid() for name in runs}
    for name, run_id in runs.items():
        store.claim(run_id, os.getpid(), manager.host)
        store.set_pid(run_id, pids[name])
    store.finish(runs["done"], "completed")
    store.set_pid(runs["taken"], dead_pid())  # resumed and picked up by another worker since
    codes = {"done": -9, "killed": -9, "exited": 0, "taken": 1}
    for name, run_id in runs.items():
        manager._active[run_id] = FakeProcess(pids[name], codes[name])
    manager.tick(start_new=False)
    assert manager.active_ids() == []
    status = {name: store.get_run(run_id) for name, run_id in runs.items()}
    assert (status["done"]["status"], status["done"]["reason"]) == ("completed", None)
    assert status["killed"]["status"] == "failed" and "SIGKILL" in status["killed"]["reason"]
    assert status["exited"]["status"] == "failed" and "code 0" in status["exited"]["reason"]
    assert status["taken"]["status"] == "running"
    store.finish(runs["taken"], "stopped", "test cleanup")


def test_shutdown_leaves_no_worker_and_runs_resumable(managers):
    manager = managers(max_workers=2)
    ids = [manager.submit(ENDLESS), manager.submit(ENDLESS.replace(seed=1))]
    for run_id in ids:
        wait_until(lambda r=run_id: manager.store.metrics(r, "step"), f"{run_id} to log")
    pids = [manager.store.get_run(run_id)["pid"] for run_id in ids]
    manager.shutdown()
    assert manager.active_ids() == []
    for run_id, pid in zip(ids, pids, strict=True):
        assert not pid_alive(pid)
        run = manager.store.get_run(run_id)
        assert run["status"] == "interrupted" and "shut down" in run["reason"]


# ----------------------------------------------------------------------------- stores


def test_two_managers_on_one_store_run_each_job_once(managers):
    first, second = managers(max_workers=1), managers(max_workers=1)
    ids = [first.submit(QUICK.replace(epochs=2, seed=i)) for i in range(4)]
    for run_id in ids:
        assert wait_final(second.store, run_id)["status"] == "completed"
        assert epochs_of(first.store, run_id) == [1, 2]
        steps = [m["step"] for m in first.store.metrics(run_id, "step")]
        assert steps == sorted(set(steps))


def test_store_is_readable_while_a_worker_writes(managers):
    manager = managers()
    run_id = manager.submit(MEDIUM.replace(epochs=3))
    reader = RunStore(manager.store.root)
    counts: list[tuple[int, int]] = []
    loads = 0
    while reader.get_run(run_id)["status"] not in FINAL:
        counts.append((len(reader.metrics(run_id, "step")), len(reader.metrics(run_id))))
        assert reader.list_runs()[0]["id"] == run_id
        for epoch in reader.snapshot_epochs(run_id):  # every listed snapshot is whole
            assert len(reader.read_snapshot(run_id, epoch)["codes"]) > 0
        path = reader.checkpoint_path(run_id, "latest")
        if path.exists() and len(counts) % 10 == 0:
            assert load_checkpoint(path)["epoch"] >= 1
            loads += 1
        time.sleep(0.005)
    assert reader.get_run(run_id)["status"] == "completed"
    assert counts == sorted(counts) and len(counts) > 5
    assert counts[-1][0] <= len(reader.metrics(run_id, "step"))


def test_background_metrics_match_the_foreground(managers, runs_dir):
    config = QUICK.replace(epochs=2, max_samples=500, log_every=3)
    manager = managers()
    foreground = manager.store.create_run(config, status="running")
    execute_run(manager.store, foreground, stop=lambda: False)
    background = manager.submit(config)
    assert wait_final(manager.store, background)["status"] == "completed"
    assert manager.store.get_run(foreground)["status"] == "completed"
    fg, bg = manager.store.metrics(foreground), manager.store.metrics(background)
    assert [h["epoch"] for h in fg] == [h["epoch"] for h in bg] == [1, 2]
    for a, b in zip(fg, bg, strict=True):
        for key in ("train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
    fg_steps = [(m["step"], m["loss"]) for m in manager.store.metrics(foreground, "step")]
    bg_steps = [(m["step"], m["loss"]) for m in manager.store.metrics(background, "step")]
    assert [s for s, _ in fg_steps] == [s for s, _ in bg_steps]
    assert [loss for _, loss in bg_steps] == pytest.approx([loss for _, loss in fg_steps], rel=1e-5)


# ----------------------------------------------------------------------------- restart

SERVER = textwrap.dedent(
    """
    import sys, time
    from aevae_core.config import TrainConfig
    from aevae_core.jobs.manager import JobManager
    manager = JobManager(sys.argv[1], max_workers=1)
    # Epochs of seconds (one image per step through a wide MLP): step rows are flushed each
    # second, so some land mid-epoch even when the machine is idle and fast.
    config = TrainConfig(
        dataset="digits", epochs=3, batch_size=1, hidden=(1024, 512), threads=1
    )
    print(manager.submit(config), flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow  # a second interpreter starts its own forkserver (torch import): ~15-35 s
def test_restart_reconciles_and_resume_continues_from_the_checkpoint(managers, runs_dir):
    """A 'server' process and its worker are killed -9 mid-epoch; a new manager takes over."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(runs_dir)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        run_id = server.stdout.readline().strip()
        store = RunStore(runs_dir)
        mid = wait_mid_epoch(store, run_id, after_epoch=1)
        assert mid["owner_pid"] == server.pid
        before = store.metrics(run_id)
    finally:
        server.kill()  # the server first, so that it cannot record its worker's death
        server.wait()
    os.kill(mid["pid"], signal.SIGKILL)
    wait_until(lambda: not pid_alive(mid["pid"]), "the worker to die")
    assert store.get_run(run_id)["status"] == "running"  # nobody is left to say otherwise

    manager = managers(start=False)  # reconciles on start
    run = manager.store.get_run(run_id)
    assert run["status"] == "interrupted" and "resume" in run["reason"], run["reason"]
    ckpt_epoch = load_checkpoint(store.checkpoint_path(run_id, "latest"))["epoch"]
    assert ckpt_epoch >= 1

    manager.resume(run_id)
    manager.start()
    run = wait_final(store, run_id)
    assert run["status"] == "completed", run["reason"]
    history = store.metrics(run_id)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for old, new in zip(before[:ckpt_epoch], history, strict=False):  # kept, not redone
        assert new["val_loss"] == old["val_loss"]
    steps = [m["step"] for m in store.metrics(run_id, "step")]
    assert steps == sorted(set(steps))
    assert store.snapshot_epochs(run_id) == [1, 2, 3]
    assert load_checkpoint(store.checkpoint_path(run_id, "latest"))["epoch"] == 3


def test_reconcile_rules(runs_dir):
    store = RunStore(runs_dir)
    me, gone = os.getpid(), dead_pid()
    runs = {name: store.create_run(QUICK) for name in ("orphan", "ckpt", "alive", "other_host",
                                                      "owner_alive", "reused")}  # fmt: skip
    for name, run_id in runs.items():
        owner = me if name == "owner_alive" else gone
        store.claim(run_id, owner, "elsewhere" if name == "other_host" else socket.gethostname())
        store.set_pid(run_id, me if name in ("alive", "reused") else gone)
    store.checkpoint_path(runs["ckpt"]).write_bytes(b"x")
    store.update_progress(runs["ckpt"], last_epoch=2)
    with store._connect() as db:  # a live process with the worker's pid, started later
        db.execute("UPDATE runs SET pid_birth = pid_birth + 1 WHERE id=?", (runs["reused"],))
    manager = JobManager(runs_dir, max_workers=1, start=False)
    status = {name: store.get_run(run_id) for name, run_id in runs.items()}
    assert status["orphan"]["status"] == "interrupted"
    assert "before the first epoch" in status["orphan"]["reason"]
    assert status["ckpt"]["status"] == "interrupted" and "resume" in status["ckpt"]["reason"]
    assert status["reused"]["status"] == "interrupted"
    for name in ("alive", "other_host", "owner_alive"):
        assert status[name]["status"] == "running", name
    assert manager.reconcile() == []


class StuckProcess(FakeProcess):
    """A live worker that ignores its stop flag until it is terminated."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid, None)
        self.alive = True

    def is_alive(self) -> bool:
        return self.alive

    def terminate(self) -> None:
        self.alive, self.exitcode = False, -signal.SIGTERM

    kill = terminate


def test_a_worker_that_ignores_cancel_is_terminated(managers):
    manager = managers(start=False)
    run_id = manager.store.create_run(QUICK)
    pid = dead_pid()
    manager.store.claim(run_id, os.getpid(), manager.host)
    manager.store.set_pid(run_id, pid)
    stuck = StuckProcess(pid)
    manager._active[run_id] = stuck
    assert manager.cancel(run_id) == "running"
    manager.tick(start_new=False)
    assert stuck.alive  # within its grace period
    manager._cancel_deadline[run_id] = time.monotonic() - 1  # the grace period is over
    manager.tick(start_new=False)
    assert not stuck.alive and manager.active_ids() == []
    run = manager.store.get_run(run_id)
    assert run["status"] == "stopped" and "terminated" in run["reason"]


# ----------------------------------------------------------------------------- runner


def test_step_rows_are_flushed_within_about_a_second_without_more_steps(runs_dir):
    from aevae_core.data.datasets import load_dataset
    from aevae_core.jobs.runner import StoreRecorder

    store = RunStore(runs_dir)
    run_id = store.create_run(QUICK, status="running")
    recorder = StoreRecorder(store, run_id, load_dataset("digits", max_samples=300))
    recorder.on_fit_start(None, None, total_steps=100)
    try:
        recorder.on_step({"epoch": 1, "step": 1, "loss": 1.0})  # the first row: at once
        assert [m["step"] for m in store.metrics(run_id, "step")] == [1]
        recorder.on_step({"epoch": 1, "step": 2, "loss": 1.0})  # buffered ...
        # ... and written by the background flusher although no step or epoch end follows.
        wait_until(lambda: len(store.metrics(run_id, "step")) == 2, "the flusher", timeout=30)
        assert store.get_run(run_id)["last_step"] == 2
    finally:
        recorder.close()


def test_resume_repairs_a_store_that_lags_its_checkpoint(runs_dir):
    """Killed between writing latest.pt and flushing its epoch row: resume restores the row."""
    store = RunStore(runs_dir)
    config = QUICK.replace(epochs=3)
    run_id = store.create_run(config.replace(epochs=2), status="running")
    execute_run(store, run_id, stop=lambda: False)
    full = store.metrics(run_id)
    # The state such a kill leaves: epoch 2's row and progress missing, a stray temp file,
    # a snapshot of an epoch that never reached a checkpoint, a stale best.pt.
    with store._connect() as db:
        db.execute("DELETE FROM metrics WHERE run_id=? AND kind='epoch' AND epoch=2", (run_id,))
        db.execute(
            "UPDATE runs SET status='failed', reason='killed', last_epoch=1, config=? WHERE id=?",
            (config.to_json(), run_id),
        )
    store.write_snapshot(run_id, 3, {"codes": np.zeros((1, 2))})
    stray = store.checkpoint_path(run_id).with_name(".latest.pt.123-4.tmp")
    stray.write_bytes(b"partial")
    store.requeue_for_resume(run_id)
    assert store.claim(run_id, os.getpid(), "h")
    execute_run(store, run_id, stop=lambda: False)
    run = store.get_run(run_id)
    assert run["status"] == "completed", run["reason"]
    history = store.metrics(run_id)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[1]["val_loss"] == pytest.approx(full[1]["val_loss"])
    assert store.snapshot_epochs(run_id) == [1, 2, 3]
    assert not stray.exists()
    best = load_checkpoint(store.checkpoint_path(run_id, "best"))
    assert best["epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]


EXITING_SERVER = textwrap.dedent(
    """
    import sys, time
    from aevae_core.config import TrainConfig
    from aevae_core.jobs.manager import JobManager
    manager = JobManager(sys.argv[1], max_workers=1)
    run_id = manager.submit(TrainConfig(dataset="digits", epochs=500, batch_size=4, threads=1))
    print(run_id, flush=True)
    while not manager.store.metrics(run_id, "step"):
        time.sleep(0.02)
    sys.exit(0)  # a normal exit, with the job still running and no shutdown() call
    """
)


@pytest.mark.slow  # a second interpreter starts its own forkserver (torch import)
def test_a_server_that_exits_leaves_its_runs_interrupted(runs_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.run(
        [sys.executable, "-c", EXITING_SERVER, str(runs_dir)], capture_output=True, text=True,
        env=env, timeout=TIMEOUT,
    )  # fmt: skip
    assert server.returncode == 0, server.stderr
    run = RunStore(runs_dir).get_run(server.stdout.split()[0])
    assert run["status"] == "interrupted" and "SIGTERM" in run["reason"], run
    assert not pid_alive(run["pid"])


def test_a_worker_takes_its_share_of_the_cores_and_the_managers_settings(
    runs_dir, tmp_path, monkeypatch
):
    import torch

    from aevae_core.jobs import worker

    monkeypatch.setattr(worker.signal, "signal", lambda *args: None)  # not in pytest itself
    monkeypatch.setattr(os, "environ", {**os.environ, "AEVAE_STALE": "x"})
    monkeypatch.chdir(tmp_path)
    store = RunStore(runs_dir)
    run_id = store.create_run(QUICK.replace(threads=0))
    store.claim(run_id, os.getpid(), socket.gethostname())
    seen = []

    def fake_execute_run(store, run_id):
        seen.append((torch.get_num_threads(), os.getcwd(), dict(os.environ)))

    monkeypatch.setattr(worker.runner, "execute_run", fake_execute_run)
    threads = torch.get_num_threads()
    try:
        context = {"cwd": str(REPO), "env": {"AEVAE_DATA_DIR": "/data/here"}}
        worker.worker_main(str(runs_dir), run_id, 1, context)
    finally:
        torch.set_num_threads(threads)
    [(n_threads, cwd, env)] = seen
    assert n_threads == 1 and cwd == str(REPO)
    assert env["AEVAE_DATA_DIR"] == "/data/here" and "AEVAE_STALE" not in env
    assert store.get_run(run_id)["pid"] == os.getpid()
    assert JobManager(runs_dir, start=False)._ctx.get_start_method() == "forkserver"


# ----------------------------------------------------------------------------- faults


def test_submit_refuses_a_config_that_would_not_fit(monkeypatch, runs_dir):
    from aevae_core.engine import preflight
    from aevae_core.jobs.admission import submit_to_store

    store = RunStore(runs_dir)
    monkeypatch.setattr(preflight, "free_memory", lambda device: 100 * 2**20)
    with pytest.raises(preflight.ResourceError, match="memory is free") as info:
        submit_to_store(store, QUICK)
    assert info.value.field in ("batch_size", "hidden", "max_samples")
    with pytest.raises(preflight.ResourceError):
        JobManager(runs_dir, max_workers=1, start=False).submit(QUICK)
    assert store.list_runs() == []  # nothing queued, no folder left
    assert [p.name for p in runs_dir.iterdir()] == ["runs.sqlite3"] or all(
        p.name.startswith("runs.sqlite3") for p in runs_dir.iterdir()
    )
    monkeypatch.setattr(preflight, "free_memory", lambda device: 64 * 2**30)
    assert store.get_run(submit_to_store(store, QUICK))["status"] == "queued"


def test_a_failed_run_resumes_from_its_checkpoint(runs_dir):
    store = RunStore(runs_dir)
    run_id = store.create_run(QUICK.replace(epochs=3), status="running")

    def crash_in_epoch_2() -> bool:
        if store.get_run(run_id)["last_epoch"] >= 1:
            raise RuntimeError("a bug in epoch 2")
        return False

    execute_run(store, run_id, stop=crash_in_epoch_2)
    run = store.get_run(run_id)
    assert run["status"] == "failed" and "a bug in epoch 2" in run["reason"]
    assert epochs_of(store, run_id) == [1]
    step_1 = store.metrics(run_id)[0]["step"]
    store.requeue_for_resume(run_id)  # failed, with latest.pt: allowed
    assert store.claim(run_id, os.getpid(), "h")
    execute_run(store, run_id, stop=lambda: False)
    run = store.get_run(run_id)
    assert run["status"] == "completed" and run["reason"] is None
    assert epochs_of(store, run_id) == [1, 2, 3]
    steps = [m["step"] for m in store.metrics(run_id, "step")]
    assert steps == sorted(set(steps))
    assert min(s for s in steps if s > step_1) == step_1 + 1  # continues where it stopped
    assert load_checkpoint(store.checkpoint_path(run_id))["epoch"] == 3


def test_per_epoch_checkpoints_are_bounded_and_analysis_uses_the_nearest(runs_dir):
    from aevae_core.explore import analysis
    from aevae_core.jobs.runner import MAX_EPOCH_CHECKPOINTS, keeps_epoch_checkpoint

    for epochs in (1, 20, 21, 100, 500, 10_000):
        kept = [e for e in range(1, epochs + 1) if keeps_epoch_checkpoint(e, epochs, epochs)]
        assert kept[0] == 1 and kept[-1] == epochs
        assert len(kept) <= MAX_EPOCH_CHECKPOINTS + 2, epochs
        assert (
            len(kept) == epochs
            if epochs <= MAX_EPOCH_CHECKPOINTS
            else len(kept) > MAX_EPOCH_CHECKPOINTS // 2
        )
    store = RunStore(runs_dir)
    config = QUICK.replace(epochs=25, max_samples=100, log_every=50)
    run_id = store.create_run(config.replace(epochs=24), status="running")
    execute_run(store, run_id, stop=lambda: False)
    every_2nd = [1, *range(2, 25, 2)]
    assert store.checkpoint_epochs(run_id) == every_2nd  # k = ceil(24 / 20) = 2
    with store._connect() as db:  # resume with one more epoch: 25 joins, kept as the last
        db.execute("UPDATE runs SET status='stopped', config=? WHERE id=?",
                   (config.to_json(), run_id))  # fmt: skip
    store.requeue_for_resume(run_id)
    store.claim(run_id, os.getpid(), "h")
    execute_run(store, run_id, stop=lambda: False)
    assert store.checkpoint_epochs(run_id) == [*every_2nd, 25]
    for epoch in store.checkpoint_epochs(run_id):
        ckpt = load_checkpoint(store.epoch_checkpoint_path(run_id, epoch))  # weights only
        assert ckpt["epoch"] == epoch and ckpt["optimizer"] == {}
    assert analysis.load_model(store, run_id, epoch=4)[2] == 4
    assert analysis.load_model(store, run_id, epoch=5)[2] == 4  # nearest; earlier on a tie
    assert analysis.load_model(store, run_id, epoch=99)[2] == 25
    assert analysis.load_model(store, run_id)[2] == 25  # no epoch: latest.pt
    # Resuming from an earlier checkpoint drops the per-epoch files past it.
    from aevae_core.jobs.runner import prepare_resume

    latest = store.checkpoint_path(run_id)
    latest.write_bytes(store.epoch_checkpoint_path(run_id, 10).read_bytes())
    with store._connect() as db:  # epoch 10's row lost: the checkpoint's history has it
        db.execute("DELETE FROM metrics WHERE run_id=? AND kind='epoch' AND epoch=10", (run_id,))
    prepare_resume(store, run_id)
    assert store.checkpoint_epochs(run_id) == [1, 2, 4, 6, 8, 10]
    assert epochs_of(store, run_id) == list(range(1, 11))
    assert store.get_run(run_id)["last_epoch"] == 10


def test_expected_failures_log_one_line_unexpected_ones_a_traceback(runs_dir, tmp_path, caplog):
    import aevae_core.jobs.runner as runner

    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not an npz file")
    store = RunStore(runs_dir)
    run_id = store.create_run(QUICK.replace(dataset="custom", data_path=str(bad)), status="running")
    with caplog.at_level("WARNING", logger="aevae_core.jobs.runner"):
        execute_run(store, run_id, stop=lambda: False)
    [record] = [r for r in caplog.records if r.name == "aevae_core.jobs.runner"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "\n" not in record.getMessage() and run_id in record.getMessage()
    assert store.get_run(run_id)["status"] == "failed"

    caplog.clear()
    run_id = store.create_run(QUICK, status="running")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    original = runner.fit
    runner.fit = broken
    try:
        with caplog.at_level("WARNING", logger="aevae_core.jobs.runner"):
            execute_run(store, run_id, stop=lambda: False)
    finally:
        runner.fit = original
    [record] = [r for r in caplog.records if r.name == "aevae_core.jobs.runner"]
    assert record.levelname == "ERROR" and record.exc_info is not None
    assert store.get_run(run_id)["reason"] == "ZeroDivisionError: a bug"


def test_failure_reasons_for_out_of_memory():
    from aevae_core.engine.failures import failure_reason

    torch_cpu = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 268435456 bytes. Error code 12 (Cannot allocate memory)"
    )
    for exc, detail in [
        (torch_cpu, "could not allocate another 256 MiB"),
        (MemoryError(), "MemoryError"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore"), "CUDA out of"),
    ]:
        reason = failure_reason(exc)
        assert reason.startswith(f"ran out of memory: {detail}"), reason
        assert reason.endswith("try a smaller batch size or model") and "\n" not in reason
    assert failure_reason(ValueError("bad")) == "ValueError: bad"


def test_jobs_still_start_after_the_module_is_reimported(managers, monkeypatch):
    """Streamlit's file watcher drops and re-imports changed modules while the server runs;
    the manager (kept in st.cache_resource) must still start workers afterwards."""
    import importlib

    manager = managers()
    monkeypatch.delitem(sys.modules, "aevae_core.jobs.manager")  # restored after the test
    importlib.import_module("aevae_core.jobs.manager")  # a new module with a new _run_worker
    run_id = manager.submit(QUICK)
    run = wait_final(manager.store, run_id)
    assert run["status"] == "completed", run["reason"]
