"""The run store's tables: the schema, the columns a run row has, and the migrations that
bring an older ``runs.sqlite3`` up to date."""

from __future__ import annotations

import contextlib
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    config TEXT NOT NULL,
    dataset TEXT, model TEXT, arch TEXT, latent_dim INTEGER, beta REAL, epochs INTEGER,
    group_id TEXT,
    created REAL NOT NULL, started REAL, ended REAL,
    pid INTEGER, host TEXT,
    pid_birth INTEGER, owner_pid INTEGER, owner_birth INTEGER,
    last_epoch INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    val_loss REAL, best_val_loss REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    resume INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT 'local',
    pinned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, seq);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, kind, step);
"""

# Columns added after the first release: ALTER TABLE adds them to an older runs.sqlite3.
MIGRATIONS = (
    ("pid_birth", "INTEGER"),  # the worker's start time, to tell a reused pid apart
    ("owner_pid", "INTEGER"),  # the manager (or foreground CLI) that claimed the run
    ("owner_birth", "INTEGER"),
    ("owner", "TEXT NOT NULL DEFAULT 'local'"),  # who started it (classroom.py); old: local
    ("pinned", "INTEGER NOT NULL DEFAULT 0"),  # a teacher's example run, listed first
    ("name", "TEXT NOT NULL DEFAULT ''"),  # a name people give a run ('' = none), set_name
    ("backend", "TEXT NOT NULL DEFAULT 'local'"),  # what trained it: local or ray (backends.py)
    ("node", "TEXT"),  # where it trained: a host name, or a Ray node's (set_placement)
)
RUN_COLUMNS = (
    "id, seq, status, reason, config, dataset, model, arch, latent_dim, beta, epochs, group_id, "
    "created, started, ended, pid, host, pid_birth, owner_pid, owner_birth, last_epoch, "
    "last_step, total_steps, val_loss, best_val_loss, cancel_requested, resume, owner, pinned, "
    "name, backend, node"
)


def create_or_migrate(conn: sqlite3.Connection) -> None:
    """Create the tables, or add the columns an older file lacks (any process may race)."""
    conn.executescript(SCHEMA)
    have = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    for name, decl in MIGRATIONS:
        if name not in have:
            with contextlib.suppress(sqlite3.OperationalError):  # another process won
                conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")
