"""The embedded registry: SQLite in WAL mode, a connection per thread."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bzrstore.registry.base import Registry, RegistryUnavailable, Run

# How long a writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 10.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode, waiting out other connections doing the same.

    On a new file, SQLite answers this pragma with SQLITE_BUSY at once, without its
    busy handler, when another connection is switching the mode at the same moment
    (several workers or upgraders starting together), so this retries up to the
    busy timeout, as busy_timeout does for everything else.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class SQLiteRegistry(Registry):
    """The embedded registry: one SQLite file in WAL mode, a connection per thread."""

    # SPEC: on the embedded default the service upgrades its schema itself on start,
    # so the README's first command needs no `bzrstore db upgrade`.
    upgrades_itself = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._opened: list[tuple[int, sqlite3.Connection]] = []
        self._lock = threading.Lock()

    def _thread_connection(self) -> sqlite3.Connection:
        # Keyed by pid: a connection inherited through fork must never be used
        # (nor closed) by the child, so the child simply opens its own.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
                isolation_level=None, check_same_thread=False,
            )
            _use_wal(conn)
            # WAL with NORMAL stays consistent through a crash or power cut and skips the
            # fsync per commit (1.2 ms here, on every push): a power cut may lose the
            # last push-log rows, as it may lose the pushed revisions Breezy never fsyncs.
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn, local.pid = conn, os.getpid()
            with self._lock:
                self._opened.append((os.getpid(), conn))
        return local.conn

    @contextmanager
    def _connection(self, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._thread_connection()
            # IMMEDIATE takes the write lock up front, so a read-then-write
            # transaction never fails on a lock upgrade that busy_timeout can't wait out.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            conn.commit()
        except (sqlite3.OperationalError, OSError) as exc:
            raise RegistryUnavailable(f"SQLite registry: {exc}") from exc

    def _table_exists(self, run: Run, table: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(run(query, (table,)).fetchall())

    def close(self) -> None:
        """Close the connections this process opened."""
        with self._lock:
            mine = [conn for pid, conn in self._opened if pid == os.getpid()]
            self._opened = [item for item in self._opened if item[0] != os.getpid()]
        for conn in mine:
            conn.close()
        self._local = threading.local()
