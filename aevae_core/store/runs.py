"""The run store: SQLite (WAL) for runs, statuses and metrics, plus one folder per run.

Layout under the runs directory (default ``./runs``, env ``AEVAE_RUNS_DIR``)::

    runs.sqlite3                   runs, metrics (WAL mode: readers never block the writer)
    <run_id>/config.json           the TrainConfig, so the run can always be rebuilt
    <run_id>/checkpoints/latest.pt the last finished epoch   (written atomically)
    <run_id>/checkpoints/best.pt   the best validation loss  (written atomically)
    <run_id>/checkpoints/epoch_0001.pt  weights after an epoch (up to ~20 kept, see runner)
    <run_id>/snapshots/epoch_0001.npz  images, reconstructions and latent codes per epoch

Workers write; the UI only reads. Run ids are made here, never taken from a user as a path.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from aevae_core.config import ConfigError
from aevae_core.files import atomic_write_bytes
from aevae_core.store.record import ACTIVE, STATUSES, Run
from aevae_core.store.run_files import RunFiles
from aevae_core.store.schema import RUN_COLUMNS, create_or_migrate
from aevae_core.store.sqlite_db import SqliteDB

log = logging.getLogger(__name__)

QUOTA_SETTING = "AEVAE_MAX_ACTIVE_PER_OWNER"  # the quota's setting (jobs/classroom.py)
CANCEL_STOP, CANCEL_INTERRUPT = 1, 2  # values of runs.cancel_requested
RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")

NAME_MAX = 40
# What update_progress and add_metrics may set on a run's row.
PROGRESS_FIELDS = {"last_epoch", "last_step", "total_steps", "val_loss", "best_val_loss"}


def default_runs_dir() -> Path:
    return Path(os.environ.get("AEVAE_RUNS_DIR", "runs")).resolve()


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def is_run_id(value: Any) -> bool:
    return isinstance(value, str) and bool(RUN_ID_RE.match(value))


class RunNotFound(KeyError):
    pass


def process_birth(pid: int | None) -> int | None:
    """A process's start time (clock ticks since boot); None where /proc cannot tell.

    Stored next to a pid so that a pid reused after a restart (common in containers, where
    the server is pid 1 again) is not mistaken for the process that ran the job.
    """
    if not pid:
        return None
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class QuotaExceeded(ConfigError):
    """A start refused: the owner already has the most active runs one owner may have."""

    def __init__(self, active: int, limit: int, wanted: int = 1) -> None:
        asks = f"this starts {wanted} runs and " if wanted > 1 else ""
        super().__init__(
            QUOTA_SETTING,
            f"{asks}you already have {active} runs queued or running; one student may have "
            f"at most {limit} at once. Wait for one to end, or stop one, then start again",
        )
        self.active, self.limit, self.wanted = active, limit, wanted


class RunStore(RunFiles, SqliteDB):
    """Thread-safe handle on one runs directory; cheap to create, one connection per thread."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).resolve() if root else default_runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        SqliteDB.__init__(self, self.root / "runs.sqlite3")
        create_or_migrate(self._conn())

    # -- runs --------------------------------------------------------------------------
    def create_run(
        self,
        config: Any,
        *,
        status: str = "queued",
        group_id: str | None = None,
        owner: str = "local",
        max_active: int | None = None,
    ) -> str:
        """Insert a run for a TrainConfig and write its folder; returns the new run id.

        ``status="running"`` is for a foreground run owned by the calling process.
        ``owner`` (see classroom.py) is recorded; with ``max_active`` the insert is refused
        (``QuotaExceeded``) when that owner already has as many runs queued or running,
        checked in the same transaction, so two quick clicks cannot both pass.
        """
        if status not in ACTIVE:
            raise ValueError(f"a new run is queued or running, not {status!r}")
        while True:  # the folder is the lock on the id: two processes never share one
            run_id = new_run_id()
            folder = self.run_dir(run_id)
            try:
                folder.mkdir()
                break
            except FileExistsError:
                continue
        (folder / "checkpoints").mkdir()
        (folder / "snapshots").mkdir()
        config_json = config.to_json()
        atomic_write_bytes(folder / "config.json", config_json.encode())
        now = time.time()
        me = os.getpid()
        running = status == "running"
        proc = (me, process_birth(me), socket.gethostname()) if running else (None, None, None)
        try:
            with self._connect() as db:
                if max_active is not None:
                    active = self._active_of(db, owner)
                    if active >= max_active:
                        raise QuotaExceeded(active, max_active)
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()[0]
                db.execute(
                    "INSERT INTO runs (id, seq, status, config, dataset, model, arch, latent_dim, "
                    "beta, epochs, group_id, created, started, pid, pid_birth, owner_pid, "
                    "owner_birth, host, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        run_id, seq, status, config_json, config.dataset, config.model,
                        config.arch, config.latent_dim, config.beta, config.epochs, group_id, now,
                        now if running else None, proc[0], proc[1], proc[0], proc[1], proc[2],
                        owner,
                    ),
                )  # fmt: skip
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return run_id

    def run_dir(self, run_id: str) -> Path:
        if not is_run_id(run_id):
            raise RunNotFound(f"{run_id!r} is not a run id")
        return self.root / run_id

    def get_run(self, run_id: str) -> Run:
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise RunNotFound(f"no run with id {run_id!r}")
        return Run(**rows[0])

    def list_runs(self, *, statuses: tuple[str, ...] | None = None) -> list[Run]:
        sql = f"SELECT {RUN_COLUMNS} FROM runs"
        args: tuple = ()
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args = tuple(statuses)
        # Pinned runs (a teacher's examples) first, then the newest.
        return [Run(**r) for r in self._query(sql + " ORDER BY pinned DESC, seq DESC", args)]

    @staticmethod
    def _active_of(db: sqlite3.Connection, owner: str) -> int:
        sql = "SELECT COUNT(*) FROM runs WHERE owner=? AND status IN ('queued', 'running')"
        return db.execute(sql, (owner,)).fetchone()[0]

    def active_count(self, owner: str) -> int:
        """Runs of ``owner`` queued or running now."""
        return self._active_of(self._conn(), owner)

    def owner_load(self) -> tuple[dict[str, int], dict[str, float]]:
        """Per owner: runs running now (every manager's) and when their latest run started;
        what the fair-share order (classroom.fair_order) needs."""
        rows = self._query(
            "SELECT owner, SUM(status='running'), MAX(started) FROM runs GROUP BY owner"
        )
        return {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows if r[2] is not None}

    def set_pinned(self, run_id: str, pinned: bool) -> None:
        """Pin a run (a teacher's example: every list shows it first), or unpin it."""
        with self._connect() as db:
            if db.execute("UPDATE runs SET pinned=? WHERE id=?", (int(pinned), run_id)).rowcount:
                return
        raise RunNotFound(f"no run with id {run_id!r}")

    def set_name(self, run_id: str, name: str) -> str:
        """Name a run (shown in run labels; '' removes the name). Returns the stored name."""
        name = " ".join(str(name).split())  # one line, single spaces
        if len(name) > NAME_MAX:
            raise ValueError(f"run name: at most {NAME_MAX} characters, got {len(name)}")
        with self._connect() as db:
            if db.execute("UPDATE runs SET name=? WHERE id=?", (name, run_id)).rowcount:
                return name
        raise RunNotFound(f"no run with id {run_id!r}")

    def queued(self) -> list[Run]:
        """Queued runs, first in first out."""
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE status='queued' ORDER BY seq")
        return [Run(**r) for r in rows]

    def claim(self, run_id: str, pid: int, host: str) -> bool:
        """queued -> running, atomically; False when another process got it first.

        ``pid`` is the claiming process (the owner); ``set_pid`` then records the worker.
        """
        with self._connect() as db:
            cur = db.execute(
                "UPDATE runs SET status='running', pid=?, pid_birth=?, owner_pid=?, "
                "owner_birth=?, host=?, started=?, ended=NULL, reason=NULL "
                "WHERE id=? AND status='queued' AND cancel_requested=0",
                (pid, process_birth(pid), pid, process_birth(pid), host, time.time(), run_id),
            )
            return cur.rowcount == 1

    def set_pid(self, run_id: str, pid: int) -> None:
        """Record the process that trains the run (the worker), with its start time."""
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET pid=?, pid_birth=? WHERE id=?", (pid, process_birth(pid), run_id)
            )

    def set_placement(self, run_id: str, backend: str, node: str | None) -> None:
        """Record where a run trains: the backend that started it and its node's name."""
        with self._connect() as db:
            db.execute("UPDATE runs SET backend=?, node=? WHERE id=?", (backend, node, run_id))

    def update_progress(self, run_id: str, **fields: Any) -> None:
        self.add_metrics(run_id, [], **fields)

    def finish(
        self,
        run_id: str,
        status: str,
        reason: str | None = None,
        *,
        only_if: tuple = (),
        pid: int | None = None,
    ) -> bool:
        """Set a final status (with the reason for anything but "completed").

        ``only_if``: only from these statuses; ``pid``: only while this process runs it.
        Returns whether the row changed.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        sql = "UPDATE runs SET status=?, reason=?, ended=?, cancel_requested=0 WHERE id=?"
        args: tuple = (status, reason, time.time(), run_id)
        if only_if:
            sql += f" AND status IN ({','.join('?' * len(only_if))})"
            args += tuple(only_if)
        if pid is not None:
            sql += " AND pid=?"
            args += (pid,)
        with self._connect() as db:
            return db.execute(sql, args).rowcount == 1

    def request_cancel(self, run_id: str, *, interrupt: bool = False) -> str:
        """A queued run is removed from the queue ("stopped"); a running one is asked to stop.

        ``interrupt=True`` (a shutting-down server) makes the running run end "interrupted"
        rather than "stopped". Returns the run's status after the call.
        """
        with self._connect() as db:
            cur = db.execute(
                "UPDATE runs SET status='stopped', reason='cancelled before it started', "
                "ended=? WHERE id=? AND status='queued'",
                (time.time(), run_id),
            )
            if cur.rowcount:
                return "stopped"
            db.execute(
                "UPDATE runs SET cancel_requested=? WHERE id=? AND status='running'",
                (CANCEL_INTERRUPT if interrupt else CANCEL_STOP, run_id),
            )
        return self.get_run(run_id)["status"]

    def cancel_requested(self, run_id: str) -> bool:
        """True when a stop was asked for, or when the run no longer exists."""
        rows = self._query("SELECT cancel_requested FROM runs WHERE id=?", (run_id,))
        return not rows or bool(rows[0][0])

    def requeue_for_resume(self, run_id: str) -> None:
        """Put a stopped, failed or interrupted run back in the queue (at its end).

        Its worker continues from the last checkpoint (``latest.pt``).
        """
        run = self.get_run(run_id)
        resumable = ("interrupted", "stopped", "failed")
        if run["status"] not in resumable:
            raise ValueError(
                f"run {run_id} is {run['status']}; only interrupted, stopped or "
                "failed runs can be resumed"
            )
        if not self.checkpoint_path(run_id, "latest").exists():
            raise ValueError(f"run {run_id} has no checkpoint to resume from")
        with self._connect() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()[0]
            cur = db.execute(
                "UPDATE runs SET status='queued', resume=1, reason=NULL, ended=NULL, pid=NULL, "
                "pid_birth=NULL, owner_pid=NULL, owner_birth=NULL, seq=?, cancel_requested=0 "
                f"WHERE id=? AND status IN ({','.join('?' * len(resumable))})",
                (seq, run_id, *resumable),
            )
            if cur.rowcount != 1:
                raise ValueError(f"run {run_id} changed status meanwhile; it was not resumed")

    def delete_run(self, run_id: str) -> None:
        """Remove the row, its metrics and its folder. A running run must be stopped first."""
        folder = self.run_dir(run_id)
        with self._connect() as db:
            row = db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is not None and row[0] == "running":
                raise ValueError(f"run {run_id} is running; stop it before deleting it")
            db.execute("DELETE FROM metrics WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        shutil.rmtree(folder, ignore_errors=True)

    def config(self, run_id: str) -> Any:
        from aevae_core.config import TrainConfig

        return TrainConfig.from_json(self.get_run(run_id)["config"])

    # -- metrics -----------------------------------------------------------------------
    def add_metrics(
        self, run_id: str, rows: list[tuple[str, int, int, dict[str, Any]]], **progress: Any
    ) -> None:
        """rows: (kind, epoch, step, data) with kind 'step' or 'epoch'; ``progress``: the run's
        last_epoch, last_step, total_steps, val_loss or best_val_loss, set in the same
        transaction, so a kill never leaves an epoch row the run's progress does not count."""
        bad = set(progress) - PROGRESS_FIELDS
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}; allowed: {sorted(PROGRESS_FIELDS)}")
        if not rows and not progress:
            return
        now = time.time()
        with self._connect() as db:
            db.executemany(
                "INSERT INTO metrics (run_id, kind, epoch, step, time, data) VALUES (?,?,?,?,?,?)",
                [(run_id, k, e, s, now, json.dumps(d)) for k, e, s, d in rows],
            )
            if progress:
                sets = ", ".join(f"{k}=?" for k in progress)
                db.execute(f"UPDATE runs SET {sets} WHERE id=?", (*progress.values(), run_id))

    def metrics(self, run_id: str, kind: str = "epoch", *, after_step: int = -1) -> list[dict]:
        rows = self._query(
            "SELECT epoch, step, time, data FROM metrics WHERE run_id=? AND kind=? AND step>? "
            "ORDER BY step, rowid",
            (run_id, kind, after_step),
        )
        out = []
        for r in rows:
            d = json.loads(r["data"])
            d.setdefault("epoch", r["epoch"])
            d.setdefault("step", r["step"])
            d["time"] = r["time"]
            out.append(d)
        return out

    def truncate_metrics(self, run_id: str, after_epoch: int) -> None:
        """Drop rows past a checkpoint before resuming, so the history has no duplicates."""
        with self._connect() as db:
            db.execute("DELETE FROM metrics WHERE run_id=? AND epoch>?", (run_id, after_epoch))
