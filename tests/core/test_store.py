"""Tests for aevae_core.store.runs: runs, statuses, metrics, snapshots, atomic files, pids."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from aevae_core.config import TrainConfig
from aevae_core.files import atomic_write_bytes
from aevae_core.jobs.processes import pid_alive
from aevae_core.model.checkpoint import load_checkpoint
from aevae_core.store.record import FINAL
from aevae_core.store.runs import RunNotFound, RunStore, is_run_id, process_birth

REPO = Path(__file__).resolve().parents[2]
CONFIG = TrainConfig(dataset="digits", epochs=3, latent_dim=2)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ----------------------------------------------------------------------------- runs


def test_create_run_writes_row_and_folder(store):
    run_id = store.create_run(CONFIG, group_id="g1")
    assert is_run_id(run_id)
    run = store.get_run(run_id)
    assert run["status"] == "queued" and run["reason"] is None
    assert (run["dataset"], run["model"], run["latent_dim"], run["epochs"]) == (
        "digits",
        "vae",
        2,
        3,
    )
    assert run["group_id"] == "g1" and run["pid"] is None and run["started"] is None
    folder = store.run_dir(run_id)
    assert folder.parent == store.root
    assert (folder / "checkpoints").is_dir() and (folder / "snapshots").is_dir()
    assert TrainConfig.from_json((folder / "config.json").read_text()) == CONFIG
    assert store.config(run_id) == CONFIG
    assert store.db_path.exists()
    mode = sqlite3.connect(store.db_path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_foreground_run_is_owned_by_the_caller(store):
    run_id = store.create_run(CONFIG, status="running")
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["started"] is not None
    assert run["pid"] == run["owner_pid"] == os.getpid()
    assert run["pid_birth"] == process_birth(os.getpid())
    with pytest.raises(ValueError):
        store.create_run(CONFIG, status="completed")


def test_run_ids_are_unique_and_never_paths(store):
    ids = [store.create_run(CONFIG) for _ in range(30)]
    assert len(set(ids)) == 30
    for bad in ("../escape", "/etc", "runs.sqlite3", "", "20260101-000000-zzzzzz", None, 3):
        assert not is_run_id(bad)
        with pytest.raises(RunNotFound):
            store.run_dir(bad)
    with pytest.raises(RunNotFound):
        store.get_run("20260101-000000-abcdef")


def test_list_runs_newest_first_and_filtered(store):
    a, b, c = (store.create_run(CONFIG) for _ in range(3))
    store.finish(b, "completed")
    assert [r["id"] for r in store.list_runs()] == [c, b, a]
    assert [r["id"] for r in store.list_runs(statuses=("queued",))] == [c, a]
    assert [r["id"] for r in store.queued()] == [a, c]  # FIFO


def test_claim_is_atomic_across_threads(store):
    run_id = store.create_run(CONFIG)
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def claim(i: int) -> None:
        own = RunStore(store.root)  # its own connection, as another manager would have
        barrier.wait()
        results.append(own.claim(run_id, 1000 + i, "host"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["owner_pid"] == run["pid"] >= 1000
    assert not store.claim(run_id, 1, "host")  # not queued any more


def test_finish_statuses_and_conditions(store):
    run_id = store.create_run(CONFIG)
    with pytest.raises(ValueError, match="unknown status"):
        store.finish(run_id, "done")
    assert store.claim(run_id, 4242, "h")
    assert not store.finish(run_id, "failed", "x", only_if=("queued",))
    assert not store.finish(run_id, "failed", "x", only_if=("running",), pid=4243)
    assert store.finish(run_id, "failed", "boom", only_if=("running",), pid=4242)
    run = store.get_run(run_id)
    assert (run["status"], run["reason"]) == ("failed", "boom") and run["ended"] >= run["started"]
    assert set(FINAL) == {"completed", "stopped", "failed", "diverged", "interrupted"}


def test_cancel_queued_and_running(store):
    queued, running = store.create_run(CONFIG), store.create_run(CONFIG)
    assert store.claim(running, os.getpid(), "h")
    assert store.request_cancel(queued) == "stopped"
    run = store.get_run(queued)
    assert run["reason"] == "cancelled before it started" and run["started"] is None
    assert not store.claim(queued, 1, "h")
    assert not store.cancel_requested(running)
    assert store.request_cancel(running) == "running"
    assert store.cancel_requested(running)
    assert store.get_run(running)["cancel_requested"] == 1
    assert store.request_cancel(running, interrupt=True) == "running"
    assert store.get_run(running)["cancel_requested"] == 2
    store.finish(running, "stopped", "by the user")
    assert not store.cancel_requested(running)  # a final status clears the request
    assert store.request_cancel(running) == "stopped"  # no effect on a finished run
    assert store.cancel_requested("20260101-000000-abcdef")  # a deleted run must stop


def test_requeue_for_resume_rules(store):
    run_id = store.create_run(CONFIG)
    other = store.create_run(CONFIG)
    store.claim(run_id, 1, "h")
    with pytest.raises(ValueError, match="only interrupted"):
        store.requeue_for_resume(run_id)  # running
    store.finish(run_id, "interrupted", "server restarted")
    with pytest.raises(ValueError, match="no checkpoint"):
        store.requeue_for_resume(run_id)
    store.checkpoint_path(run_id, "latest").write_bytes(b"x")
    store.requeue_for_resume(run_id)
    run = store.get_run(run_id)
    assert run["status"] == "queued" and run["resume"] == 1 and run["reason"] is None
    assert run["pid"] is None and run["ended"] is None
    assert [r["id"] for r in store.queued()] == [other, run_id]  # back of the queue
    store.claim(run_id, 1, "h")
    store.finish(run_id, "completed")
    with pytest.raises(ValueError, match="completed"):
        store.requeue_for_resume(run_id)


def test_a_failed_run_with_a_checkpoint_can_be_resumed(store):
    run_id = store.create_run(CONFIG)
    store.claim(run_id, 1, "h")
    store.finish(run_id, "failed", "the worker process was killed by SIGKILL")
    with pytest.raises(ValueError, match="no checkpoint"):
        store.requeue_for_resume(run_id)  # killed before its first epoch ended
    assert store.get_run(run_id)["status"] == "failed"
    store.checkpoint_path(run_id, "latest").write_bytes(b"x")
    store.requeue_for_resume(run_id)
    run = store.get_run(run_id)
    assert (run["status"], run["resume"], run["reason"]) == ("queued", 1, None)
    for status in ("diverged", "completed"):  # resuming would redo the same thing
        store.claim(run_id, 1, "h")
        store.finish(run_id, status, "x")
        with pytest.raises(ValueError, match="only interrupted, stopped or failed"):
            store.requeue_for_resume(run_id)
        with store._connect() as db:
            db.execute("UPDATE runs SET status='queued' WHERE id=?", (run_id,))


def test_delete_removes_row_metrics_and_folder(store):
    run_id = store.create_run(CONFIG)
    keep = store.create_run(CONFIG)
    store.add_metrics(run_id, [("epoch", 1, 10, {"val_loss": 1.0})])
    store.add_metrics(keep, [("epoch", 1, 10, {"val_loss": 2.0})])
    store.claim(run_id, os.getpid(), "h")
    with pytest.raises(ValueError, match="running"):
        store.delete_run(run_id)
    assert store.run_dir(run_id).exists()
    store.finish(run_id, "stopped", "x")
    store.delete_run(run_id)
    with pytest.raises(RunNotFound):
        store.get_run(run_id)
    assert not store.run_dir(run_id).exists()
    assert store.metrics(run_id) == []
    assert [m["val_loss"] for m in store.metrics(keep)] == [2.0]


def test_migrates_an_older_database(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    old = sqlite3.connect(root / "runs.sqlite3")
    old.executescript(
        """
        CREATE TABLE runs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL,
            reason TEXT, config TEXT NOT NULL, dataset TEXT, model TEXT, arch TEXT,
            latent_dim INTEGER, beta REAL, epochs INTEGER, group_id TEXT, created REAL NOT NULL,
            started REAL, ended REAL, pid INTEGER, host TEXT,
            last_epoch INTEGER NOT NULL DEFAULT 0, last_step INTEGER NOT NULL DEFAULT 0,
            total_steps INTEGER NOT NULL DEFAULT 0, val_loss REAL, best_val_loss REAL,
            cancel_requested INTEGER NOT NULL DEFAULT 0, resume INTEGER NOT NULL DEFAULT 0);
        INSERT INTO runs (id, seq, status, config, created) VALUES
            ('20260101-000000-abcdef', 1, 'completed', '{}', 0);
        """
    )
    old.close()
    store = RunStore(root)
    run = store.get_run("20260101-000000-abcdef")
    assert run["status"] == "completed" and run["owner_pid"] is None
    assert run["name"] == ""  # the name column is added, empty for old runs
    assert store.get_run(store.create_run(CONFIG))["seq"] == 2


def test_a_run_can_be_named(store):
    run_id = store.create_run(CONFIG)
    assert store.get_run(run_id)["name"] == ""
    assert store.set_name(run_id, "  wide\n  AE ") == "wide AE"
    assert store.get_run(run_id)["name"] == "wide AE"
    assert store.list_runs()[0]["name"] == "wide AE"
    with pytest.raises(ValueError, match="at most 40 characters, got 41"):
        store.set_name(run_id, "x" * 41)
    assert store.get_run(run_id)["name"] == "wide AE"
    assert store.set_name(run_id, "") == ""
    with pytest.raises(RunNotFound):
        store.set_name("20260101-000000-zzzzzz", "a")


# ----------------------------------------------------------------------------- metrics


def test_metrics_roundtrip_order_and_truncate(store):
    run_id = store.create_run(CONFIG)
    store.add_metrics(run_id, [("step", 1, 1, {"loss": 3.0}), ("step", 1, 10, {"loss": 2.0})])
    store.add_metrics(run_id, [("epoch", 1, 13, {"val_loss": 2.5})])
    store.add_metrics(run_id, [("step", 2, 20, {"loss": 1.5}), ("epoch", 2, 26, {"val_loss": 1.0})])
    store.add_metrics(run_id, [])
    steps = store.metrics(run_id, "step")
    assert [(m["epoch"], m["step"], m["loss"]) for m in steps] == [
        (1, 1, 3.0), (1, 10, 2.0), (2, 20, 1.5),
    ]  # fmt: skip
    assert all(isinstance(m["time"], float) for m in steps)
    assert [m["step"] for m in store.metrics(run_id, "step", after_step=1)] == [10, 20]
    assert [m["epoch"] for m in store.metrics(run_id)] == [1, 2]
    store.truncate_metrics(run_id, 1)
    assert [m["step"] for m in store.metrics(run_id, "step")] == [1, 10]
    assert [m["epoch"] for m in store.metrics(run_id)] == [1]


def test_readers_see_committed_rows_while_a_writer_writes(store):
    run_id = store.create_run(CONFIG)
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(1, 301):
                store.add_metrics(run_id, [("step", 1, i, {"loss": float(i)})])
                store.update_progress(run_id, last_step=i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    reader = RunStore(store.root)
    seen = []
    while not done.is_set():
        last_step = reader.get_run(run_id)["last_step"]  # written after its metrics row
        rows = reader.metrics(run_id, "step")
        assert [m["step"] for m in rows] == list(range(1, len(rows) + 1))  # a prefix, no hole
        assert len(rows) >= last_step
        seen.append(len(rows))
    writer.join()
    assert not errors
    assert seen == sorted(seen)
    assert len(reader.metrics(run_id, "step")) == 300


def test_update_progress_rejects_other_columns(store):
    run_id = store.create_run(CONFIG)
    store.update_progress(run_id, last_epoch=2, val_loss=1.5)
    assert store.get_run(run_id)["last_epoch"] == 2
    with pytest.raises(ValueError):
        store.update_progress(run_id, status="completed")


def test_an_epoch_row_and_the_progress_that_counts_it_are_one_write(store):
    """A worker killed between two writes once left epoch 5's row with last_epoch 4."""
    run_id = store.create_run(CONFIG)
    store.add_metrics(run_id, [("epoch", 1, 10, {"val_loss": 2.0})], last_epoch=1, last_step=10)
    assert store.get_run(run_id)["last_epoch"] == 1 and store.get_run(run_id)["last_step"] == 10
    # A refused progress field writes neither the rows nor the progress.
    with pytest.raises(ValueError, match="allowed"):
        store.add_metrics(run_id, [("epoch", 2, 20, {"val_loss": 1.0})], last_epoch=2, status="x")
    assert [m["epoch"] for m in store.metrics(run_id)] == [1]
    assert store.get_run(run_id)["last_epoch"] == 1
    # One transaction: when the progress cannot be written (a trigger stands in for a kill
    # between the two), the row is not written either.
    with sqlite3.connect(store.db_path) as db:
        db.execute(
            "CREATE TRIGGER refuse AFTER UPDATE OF last_epoch ON runs WHEN NEW.last_epoch = 2 "
            "BEGIN SELECT RAISE(ABORT, 'killed'); END"
        )
    with pytest.raises(sqlite3.DatabaseError, match="killed"):
        store.add_metrics(run_id, [("epoch", 2, 20, {"val_loss": 1.0})], last_epoch=2)
    assert [m["epoch"] for m in store.metrics(run_id)] == [1]


# ----------------------------------------------------------------------------- files


def test_snapshots_roundtrip_and_listing(store):
    run_id = store.create_run(CONFIG)
    arrays = {
        "images": np.arange(2 * 1 * 8 * 8, dtype=np.uint8).reshape(2, 1, 8, 8),
        "codes": np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32),
        "labels": np.arange(5),
    }
    for epoch in (2, 1, 10):
        store.write_snapshot(run_id, epoch, arrays)
    (store.run_dir(run_id) / "snapshots" / ".epoch_0003.npz.1-2.tmp").write_bytes(b"partial")
    assert store.snapshot_epochs(run_id) == [1, 2, 10]
    back = store.read_snapshot(run_id, 10)
    assert set(back) == set(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value)
        assert back[key].dtype == value.dtype


def test_checkpoint_paths(store):
    run_id = store.create_run(CONFIG)
    assert store.checkpoint_path(run_id).name == "latest.pt"
    assert store.checkpoint_path(run_id, "best").parent == store.run_dir(run_id) / "checkpoints"
    with pytest.raises(ValueError):
        store.checkpoint_path(run_id, "../x")


def test_epoch_checkpoint_paths_and_listing(store):
    run_id = store.create_run(CONFIG)
    assert store.checkpoint_epochs(run_id) == []
    path = store.epoch_checkpoint_path(run_id, 7)
    assert path == store.run_dir(run_id) / "checkpoints" / "epoch_0007.pt"
    for epoch in (12, 7, 1):
        store.epoch_checkpoint_path(run_id, epoch).write_bytes(b"x")
    (path.parent / ".epoch_0013.pt.1-2.tmp").write_bytes(b"partial")  # a killed writer's
    (path.parent / "epoch_final.pt").write_bytes(b"x")  # not ours
    assert store.checkpoint_epochs(run_id) == [1, 7, 12]
    with pytest.raises(RunNotFound):
        store.epoch_checkpoint_path("../x", 1)


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "file.bin"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from aevae_core.store.run_files import atomic_write_bytes
    path = Path(sys.argv[1])
    print("ready", flush=True)
    version = 0
    while True:
        version += 1
        atomic_write_bytes(path, version.to_bytes(8, "little") * 500_000)  # 4 MB
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.4])
def test_a_kill_at_any_moment_leaves_the_file_whole(tmp_path, delay):
    """A writer replacing a 4 MB file in a loop is killed -9 at an arbitrary moment."""
    path = tmp_path / "latest.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    payload = path.read_bytes()
    assert len(payload) == 4_000_000
    assert payload == payload[:8] * 500_000  # one whole version, never a mix or a prefix


def test_checkpoints_load_with_weights_only(tmp_path):
    from aevae_core.model.checkpoint import model_from_checkpoint, save_checkpoint
    from aevae_core.model.networks import build_model

    model = build_model(CONFIG, (1, 8, 8))
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp_path / "latest.pt"
    history = [{"epoch": 1, "val_loss": 3.0}, {"epoch": 2, "val_loss": 2.0}]
    save_checkpoint(path, model=model, optimizer=optimizer, config=CONFIG, epoch=2, history=history)
    ckpt = load_checkpoint(path)  # torch.load(..., weights_only=True)
    assert ckpt["epoch"] == 2 and [h["epoch"] for h in ckpt["history"]] == [1, 2]
    rebuilt, config = model_from_checkpoint(ckpt)
    assert config == CONFIG
    for a, b in zip(model.state_dict().values(), rebuilt.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


# ----------------------------------------------------------------------------- processes


def test_pid_alive_tells_live_dead_reused_and_zombie_processes():
    me = os.getpid()
    assert pid_alive(me) and pid_alive(me, process_birth(me))
    assert not pid_alive(me, (process_birth(me) or 0) + 1)  # same pid, another process
    assert not pid_alive(dead_pid())
    assert not pid_alive(None) and not pid_alive(0)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # exited but not yet waited for
        with open(f"/proc/{zombie.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    assert not pid_alive(zombie.pid)
    zombie.wait()
