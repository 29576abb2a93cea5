"""Fault injection with real worker processes: kill -9 at random moments, a server that is
killed and restarted, a job that runs out of memory.

What must hold whatever happens: a run never stays "running" with nobody on it, its
reason says what happened, the metrics flushed before a kill are kept, every checkpoint
left on disk loads with ``weights_only=True``, and other jobs and the manager go on.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from jobs_helpers import QUICK, wait_final, wait_until, worker_pid

from aevae_core.config import TrainConfig
from aevae_core.jobs.processes import pid_alive
from aevae_core.jobs.runner import MAX_EPOCH_CHECKPOINTS
from aevae_core.model.checkpoint import load_checkpoint, model_from_checkpoint
from aevae_core.store.runs import RunStore

REPO = Path(__file__).resolve().parents[2]

# Short epochs (17 steps of 16 images) so that kills land in checkpoint writes too; many
# epochs so that no run completes before its kill (200 epochs: a file every 10th epoch).
VICTIM = TrainConfig(
    dataset="digits", max_samples=300, epochs=200, batch_size=16, hidden=(32,), threads=1,
    log_every=2,
)  # fmt: skip


def check_files_whole(store: RunStore, run_id: str) -> dict[str, int]:
    """Every checkpoint and snapshot a run has loads (weights only); returns their epochs."""
    folder = store.run_dir(run_id) / "checkpoints"
    epochs = {}
    for path in sorted(folder.glob("*.pt")):
        ckpt = load_checkpoint(path)  # torch.load(..., weights_only=True)
        model_from_checkpoint(ckpt)
        epochs[path.stem] = int(ckpt["epoch"])
        if path.stem.startswith("epoch_"):
            assert int(path.stem.split("_")[1]) == ckpt["epoch"], path
    for epoch in store.snapshot_epochs(run_id):
        assert len(store.read_snapshot(run_id, epoch)["codes"]) > 0
    return epochs


# ------------------------------------------------------------------------------- soak

KILLS = 50
MOMENTS = ("at start", "early", "mid-training", "checkpoint write", "after a step row")


def kill_at(
    store: RunStore, run_id: str, pid: int, moment: str, rng: random.Random
) -> tuple[list[dict], list[dict]]:
    """Wait for the moment, read the committed metrics, then kill -9 the worker.

    Returns the (step, epoch) rows read just before the kill: all of them must survive.
    """
    folder = store.run_dir(run_id) / "checkpoints"
    if moment == "early":
        time.sleep(rng.uniform(0.0, 0.3))
    elif moment == "mid-training":
        time.sleep(rng.uniform(0.3, 1.5))
    elif moment == "checkpoint write":  # a temp file exists while a checkpoint is written
        time.sleep(rng.uniform(0.0, 0.5))
        deadline = time.monotonic() + 5
        while not any(folder.glob(".*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.0005)
    elif moment == "after a step row":
        time.sleep(rng.uniform(0.0, 0.8))
        seen = len(store.metrics(run_id, "step"))
        deadline = time.monotonic() + 5
        while len(store.metrics(run_id, "step")) <= seen and time.monotonic() < deadline:
            time.sleep(0.001)
    before = (store.metrics(run_id, "step"), store.metrics(run_id, "epoch"))
    os.kill(pid, signal.SIGKILL)
    return before


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_soak_kill_9_at_random_moments(managers):
    """50 workers killed -9 at random moments; the manager and every run's files survive."""
    seed = int(os.environ.get("AEVAE_SOAK_SEED", "0")) or random.randrange(1, 10**6)
    rng = random.Random(seed)
    manager = managers(max_workers=1)
    store = manager.store
    statuses: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    t0 = time.monotonic()
    for i in range(KILLS):
        moment = MOMENTS[i % len(MOMENTS)]
        run_id = manager.submit(VICTIM.replace(seed=i))
        pid = worker_pid(store, run_id)
        folder = store.run_dir(run_id) / "checkpoints"
        before_steps, before_epochs = kill_at(store, run_id, pid, moment, rng)
        tmp_left = any(folder.glob(".*.tmp"))
        run = wait_final(store, run_id)
        context = f"kill {i} ({moment}, seed {seed}): {run['status']} {run['reason']!r}"
        statuses[run["status"]] += 1
        assert run["status"] in ("failed", "interrupted"), context
        assert run["reason"] and "SIGKILL" in run["reason"], context
        wait_until(lambda p=pid: not pid_alive(p), "the worker to be gone")

        after_steps = store.metrics(run_id, "step")
        assert after_steps[: len(before_steps)] == before_steps, context
        steps = [m["step"] for m in after_steps]
        assert steps == sorted(set(steps)), context
        epochs = [m["epoch"] for m in store.metrics(run_id, "epoch")]
        assert epochs == list(range(1, len(epochs) + 1)), context
        assert len(epochs) >= len(before_epochs), context

        files = check_files_whole(store, run_id)
        if "latest" in files:
            # latest.pt is written before its epoch's row is flushed: at most one ahead.
            assert files["latest"] in (len(epochs), len(epochs) + 1), (context, files)
            assert files.get("best", 0) <= files["latest"], (context, files)
            per_epoch = [e for name, e in files.items() if name.startswith("epoch_")]
            assert per_epoch and max(per_epoch) <= files["latest"] + 1, (context, files)
            assert len(per_epoch) <= MAX_EPOCH_CHECKPOINTS + 2, (context, files)
        else:
            assert not epochs, context

        hits["no step row at the kill"] += not before_steps
        hits["after an epoch"] += bool(before_epochs)
        hits["with a checkpoint"] += "latest" in files
        hits["temp file left (killed while writing)"] += tmp_left
    elapsed = time.monotonic() - t0
    print(
        f"\nsoak: {KILLS} kills in {elapsed:.0f} s (seed {seed}); statuses {dict(statuses)}; "
        f"{dict(hits)}"
    )
    assert hits["with a checkpoint"] > 0 and hits["no step row at the kill"] > 0
    # The manager still runs jobs.
    assert wait_final(store, manager.submit(QUICK))["status"] == "completed"


# ---------------------------------------------------------------------------- restart

SERVER = textwrap.dedent(
    """
    import sys, time
    from aevae_core.config import TrainConfig
    from aevae_core.jobs.manager import JobManager
    manager = JobManager(sys.argv[1], max_workers=1)
    quick = TrainConfig(dataset="digits", max_samples=300, epochs=1, batch_size=32,
                        hidden=(32,), threads=1)
    # Epochs of a second or more (one image per step, ~1,600 steps).
    long = TrainConfig(dataset="digits", epochs=4, batch_size=1, hidden=(32,), threads=1)
    print(manager.submit(quick), manager.submit(long), manager.submit(quick.replace(seed=1)),
          flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow  # a second interpreter starts its own forkserver (torch import)
@pytest.mark.timeout(600)
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGKILL to the process group"])
def test_server_killed_then_restarted(managers, runs_dir, how):
    """A server with a completed, a running and a queued job dies; a new one takes over."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(runs_dir)], stdout=subprocess.PIPE, text=True,
        env=env, start_new_session=True,
    )  # fmt: skip
    try:
        done, running, queued = server.stdout.readline().split()
        store = RunStore(runs_dir)
        assert wait_final(store, done)["status"] == "completed"
        # Killed during epoch 2 or later (its step rows past the checkpoint get dropped).
        mid = wait_until(
            lambda: (r := store.get_run(running))["last_epoch"] >= 1 and r, "epoch 1 to end"
        )
        assert mid["status"] == "running", mid
        assert mid["owner_pid"] == server.pid and store.get_run(queued)["status"] == "queued"
        before = store.metrics(running)
    finally:
        if how == "SIGKILL to the process group":  # e.g. a container stopped, a cgroup OOM
            os.killpg(server.pid, signal.SIGKILL)
        else:
            server.send_signal(getattr(signal, how))
        server.wait()
    # Whatever killed the server, its worker does not train on unseen: it ends (by itself,
    # noticing its manager is gone, or killed with it) within about a second.
    wait_until(lambda: not pid_alive(mid["pid"], mid["pid_birth"]), "the worker to end")

    manager = managers(start=False)  # reconciles on start
    run = manager.store.get_run(running)
    assert run["status"] == "interrupted", run
    assert "resume" in run["reason"] and (
        f"the job manager (pid {server.pid}) exited" in run["reason"]  # the worker's own
        or f"pid {mid['pid']}) ended without finishing it" in run["reason"]  # reconcile's
    ), run["reason"]
    completed = manager.store.get_run(done)
    assert (completed["status"], completed["reason"]) == ("completed", None)
    assert manager.store.get_run(queued)["status"] == "queued"
    ckpt = load_checkpoint(store.checkpoint_path(running, "latest"))
    assert ckpt["epoch"] >= 1

    manager.resume(running)
    manager.start()
    assert wait_final(store, queued)["status"] == "completed"  # queued first, so it runs first
    run = wait_final(store, running)
    assert run["status"] == "completed", run["reason"]
    assert store.get_run(queued)["ended"] <= run["started"]
    history = store.metrics(running)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for old, new in zip(before[: ckpt["epoch"]], history, strict=False):  # kept, not redone
        assert (new["step"], new["val_loss"]) == (old["step"], old["val_loss"])
    steps = store.metrics(running, "step")
    assert [m["step"] for m in steps] == sorted({m["step"] for m in steps})
    resumed = [m for m in steps if m["epoch"] > ckpt["epoch"]]
    assert resumed[0]["step"] == history[ckpt["epoch"] - 1]["step"] + 1  # continues, no restart
    assert store.snapshot_epochs(running) == store.checkpoint_epochs(running) == [1, 2, 3, 4]
    assert load_checkpoint(store.checkpoint_path(running, "latest"))["epoch"] == 4
    check_files_whole(store, running)


# ----------------------------------------------------------------------- out of memory

# About 100 M weights (four 4096-wide layers each side): 400 MB of weights, as much again
# for their gradients and twice that for Adam's state.
HUGE = QUICK.replace(hidden=(4096, 4096, 4096, 4096), batch_size=64)


@pytest.mark.timeout(300)
def test_a_job_out_of_memory_fails_alone(managers, monkeypatch):
    """With the server's per-job limit set, a job too big for it fails with a readable reason
    while another job completes and the manager goes on."""
    monkeypatch.setenv("AEVAE_WORKER_MAX_MEMORY_MB", "400")  # read by each worker at start
    manager = managers(max_workers=2)
    other = manager.submit(QUICK.replace(epochs=3, max_samples=600))
    huge = manager.submit(HUGE)  # passes the pre-flight: the machine has the memory
    run = wait_final(manager.store, huge)
    assert run["status"] == "failed", run
    assert run["reason"].startswith("ran out of memory"), run["reason"]
    assert "try a smaller batch size or model" in run["reason"]
    assert "AEVAE_WORKER_MAX_MEMORY_MB" in run["reason"]
    assert not (manager.store.run_dir(huge) / "checkpoints" / "latest.pt").exists()
    assert wait_final(manager.store, other)["status"] == "completed"
    assert wait_final(manager.store, manager.submit(QUICK))["status"] == "completed"


def test_memory_limit_knob(monkeypatch):
    import resource

    from aevae_core.jobs import worker

    calls = []
    monkeypatch.setattr(worker.resource, "setrlimit", lambda *args: calls.append(args))
    monkeypatch.delenv("AEVAE_WORKER_MAX_MEMORY_MB", raising=False)
    assert worker.limit_memory(QUICK) is None
    for value in ("", "lots", "0", "-5"):
        monkeypatch.setenv("AEVAE_WORKER_MAX_MEMORY_MB", value)
        assert worker.limit_memory(QUICK) is None
    assert calls == []
    monkeypatch.setenv("AEVAE_WORKER_MAX_MEMORY_MB", "300")
    now = worker.address_space_bytes()
    limit = worker.limit_memory(QUICK)
    assert now + 300 * 2**20 <= limit <= now + 400 * 2**20
    [(which, (soft, _hard))] = calls
    assert which == resource.RLIMIT_AS and soft == limit
