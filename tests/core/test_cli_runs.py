"""The command line over the run store: train --background, worker, runs list/show, cancel.

Every command runs in a real ``python -m aevae_core`` subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aevae_core.config import TrainConfig
from aevae_core.jobs.admission import submit_to_store
from aevae_core.store.record import FINAL
from aevae_core.store.runs import RunStore

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
QUICK_FLAGS = ["--dataset", "digits", "--max-samples", "300", "--epochs", "2", "--batch-size",
               "32", "--hidden", "32", "--threads", "1"]  # fmt: skip
SUMMARY_KEYS = {"id", "status", "dataset", "model", "latent_dim", "created", "last_epoch",
                "val_loss", "owner", "started", "ended"}  # fmt: skip


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "AEVAE_MAX_WORKERS": "1"}


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aevae_core", *args], capture_output=True, text=True,
        timeout=timeout, cwd=REPO, env=cli_env(),
    )  # fmt: skip


def last_json(stdout: str):
    return json.loads(stdout.strip().splitlines()[-1])


def test_background_train_then_worker_completes_the_run(tmp_path):
    runs = str(tmp_path / "runs")
    queued = cli("train", *QUICK_FLAGS, "--background", "--json", "--runs-dir", runs)
    assert queued.returncode == 0, queued.stderr
    submitted = last_json(queued.stdout)
    run_id = submitted["run_id"]
    assert submitted["status"] == "queued"

    listed = cli("runs", "list", "--json", "--runs-dir", runs)
    assert listed.returncode == 0, listed.stderr
    [row] = last_json(listed.stdout)
    assert set(row) == SUMMARY_KEYS
    assert (row["id"], row["status"], row["dataset"], row["last_epoch"]) == (
        run_id, "queued", "digits", 0,
    )  # fmt: skip
    assert (row["owner"], row["started"], row["ended"]) == ("cli", None, None)

    worker = cli("worker", "--runs-dir", runs, "--exit-when-idle", "--max-workers", "1")
    assert worker.returncode == 0, worker.stderr

    shown = cli("runs", "show", run_id, "--json", "--runs-dir", runs)
    assert shown.returncode == 0, shown.stderr
    run = last_json(shown.stdout)
    assert run["status"] == "completed" and run["reason"] is None
    assert run["owner"] == "cli" and run["created"] <= run["started"] <= run["ended"]
    assert run["config"]["epochs"] == 2 and run["config"]["hidden"] == [32]
    assert [h["epoch"] for h in run["history"]] == [1, 2]
    assert all(h["val_loss"] > 0 for h in run["history"])
    [row] = last_json(cli("runs", "list", "--json", "--runs-dir", runs).stdout)
    assert row["status"] == "completed" and row["last_epoch"] == 2
    assert row["val_loss"] == pytest.approx(run["history"][-1]["val_loss"])


def test_runs_show_an_unknown_id(tmp_path):
    result = cli("runs", "show", "20260101-000000-abcdef", "--json", "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert "no run" in result.stderr
    result = cli("runs", "show", "../../etc", "--runs-dir", str(tmp_path))
    assert result.returncode == 2


def test_a_foreground_cli_run_stops_when_cancelled_through_the_store(tmp_path):
    """The app (or ``runs cancel``) can stop a run that the CLI trains in the foreground."""
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aevae_core", "train", "--dataset", "digits", "--epochs", "500",
         "--batch-size", "4", "--threads", "1", "--quiet", "--json", "--runs-dir", str(runs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stderr.read()
            rows = RunStore(runs).list_runs() if (runs / "runs.sqlite3").exists() else []
            if rows and RunStore(runs).metrics(rows[0]["id"], "step"):
                break
            assert time.monotonic() < deadline, "the foreground run never logged a step"
            time.sleep(0.05)
        run_id = rows[0]["id"]
        assert rows[0]["status"] == "running" and rows[0]["pid"] == proc.pid
        assert rows[0]["owner"] == "cli"
        cancel = cli("runs", "cancel", run_id, "--runs-dir", str(runs))
        assert cancel.returncode == 0 and cancel.stdout.strip() == "running"
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    summary = last_json(out)
    assert summary["run_id"] == run_id and summary["status"] == "stopped"
    assert "stopped by the user" in summary["reason"]


@pytest.mark.slow  # two interpreters each start a forkserver that imports torch
def test_two_cli_workers_share_one_store(tmp_path):
    runs = tmp_path / "runs"
    store = RunStore(runs)
    config = TrainConfig(dataset="digits", max_samples=300, epochs=2, batch_size=32,
                         hidden=(32,), threads=1)  # fmt: skip
    ids = [submit_to_store(store, config.replace(seed=i)) for i in range(6)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aevae_core",
                "worker",
                "--runs-dir",
                str(runs),
                "--exit-when-idle",
                "--max-workers",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=cli_env(),
        )  # fmt: skip
        for _ in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    owners = set()
    for run_id in ids:
        run = store.get_run(run_id)
        assert run["status"] == "completed", (run["status"], run["reason"])
        assert [m["epoch"] for m in store.metrics(run_id)] == [1, 2]  # trained once
        owners.add(run["owner_pid"])
    assert owners <= {w.pid for w in workers}
    assert all(r["status"] in FINAL for r in store.list_runs())


def test_sigterm_to_the_cli_worker_interrupts_its_runs_cleanly(tmp_path):
    """`kill PID` (what systemd or docker send to a class server's worker) shuts it down:
    the running run ends "interrupted" (resumable) at once, the worker exits 0."""
    runs = tmp_path / "runs"
    store = RunStore(runs)
    endless = TrainConfig(dataset="digits", epochs=500, batch_size=4, hidden=(32,), threads=1)
    run_id = submit_to_store(store, endless)
    worker = subprocess.Popen(
        [sys.executable, "-m", "aevae_core", "worker", "--runs-dir", str(runs)],
        cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while store.get_run(run_id)["last_step"] == 0:
            assert time.monotonic() < deadline, "the worker never started the run"
            assert worker.poll() is None, worker.stderr.read()
            time.sleep(0.1)
        worker.terminate()
        _, stderr = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    run = store.get_run(run_id)
    assert run["status"] == "interrupted", run
    assert "job manager shut down" in run["reason"], run["reason"]
