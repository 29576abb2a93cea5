"""The run store's SQLite connections: one per thread for writes, one shared for reads.

WAL mode, so readers never block the writer; every write is one ``BEGIN IMMEDIATE``
transaction, and ``writes`` counts those this object committed (the server's shared view,
``live_view``, reads again after one).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path


class SqliteDB:
    """Connections to one SQLite file, safe to share between threads."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._local = threading.local()
        self._read_lock = threading.Lock()
        self.writes = 0  # transactions committed through this object

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.writes += 1  # what this process changed, a shared view (live_view) sees at once

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """A read, on one connection shared by this process's threads: a server runs each
        page render in a new thread, which would otherwise open (and set up) a connection
        of its own for every render."""
        with self._read_lock:
            if getattr(self, "_reader_pid", None) != os.getpid():
                self._reader = sqlite3.connect(
                    self.db_path, timeout=30, isolation_level=None, check_same_thread=False
                )
                self._reader.row_factory = sqlite3.Row
                self._reader.execute("PRAGMA busy_timeout=30000")
                self._reader_pid = os.getpid()
            return self._reader.execute(sql, args).fetchall()
