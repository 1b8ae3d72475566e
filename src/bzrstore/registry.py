"""Codebases and workers in SQLite or PostgreSQL: plain SQL behind one small interface."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .branches import BRANCH_SCHEMA, BranchRecords
from .config import Settings
from .form_keys import FORM_KEY_SCHEMA, FormKeyRecords

# SQLite: how long a writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
# PostgreSQL: how long a request waits for a pooled connection before answering 503.
POOL_TIMEOUT_SECONDS = 10.0
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# PostgreSQL, after a failure and until a checkout succeeds: while the database is away a
# request answers 503 this soon instead of holding a sync worker for POOL_TIMEOUT_SECONDS.
OUTAGE_CHECKOUT_TIMEOUT_SECONDS = 2.0
# Any constant: serialises concurrent CREATE TABLE IF NOT EXISTS from many workers.
SCHEMA_LOCK_ID = 0x627A7273

# Janitor's tables have more columns; we only ever read and write these, so an
# existing Janitor database works as it is. Our own tables are prefixed bzrstore_.
SCHEMA = {
    "codebase": "CREATE TABLE IF NOT EXISTS codebase (name TEXT PRIMARY KEY)",
    "worker": "CREATE TABLE IF NOT EXISTS worker (name TEXT PRIMARY KEY, password TEXT NOT NULL)",
    "bzrstore_admin": "CREATE TABLE IF NOT EXISTS bzrstore_admin (worker TEXT PRIMARY KEY)",
    **BRANCH_SCHEMA,
    **FORM_KEY_SCHEMA,
}

Run = Callable[..., Any]


class RegistryError(Exception):
    """Something the registry cannot do."""


class RegistryUnavailable(RegistryError):
    """The database cannot be reached (the web layer answers 503)."""


class WorkerExists(RegistryError):
    """A worker of that name is already registered."""


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as listed: its name and whether it may use the admin pages."""

    name: str
    admin: bool


class Registry(BranchRecords, FormKeyRecords):
    """Codebases and workers; backends supply connections, SQL here uses ``?``."""

    placeholder = "?"
    # How each backend spells "compare names byte by byte" (PostgreSQL's default is locale order).
    byte_order = "COLLATE BINARY"

    def _connection(self, write: bool) -> AbstractContextManager[Any]:
        """A DB-API connection inside one transaction, committed when the block ends."""
        raise NotImplementedError

    def _table_exists(self, run: Run, table: str) -> bool:
        """Whether ``table`` is visible to this connection."""
        raise NotImplementedError

    def _lock_schema(self, run: Run) -> None:
        """Keep concurrent ensure_schema calls from racing (where the backend needs it)."""

    def close(self) -> None:
        """Release this process's connections; the registry reconnects when used again."""
        raise NotImplementedError

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Run]:
        with self._connection(write) as conn:
            # The one place where the placeholder style differs between backends.
            yield lambda sql, params=(): conn.execute(
                sql.replace("?", self.placeholder), params
            )

    def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._transaction() as run:
            return run(sql, params).fetchall()

    def _change(self, sql: str, params: tuple[Any, ...]) -> bool:
        with self._transaction(write=True) as run:
            return run(sql, params).rowcount > 0

    def ensure_schema(self) -> None:
        """Create the tables that are missing; existing tables and rows are left alone."""
        with self._transaction(write=True) as run:
            # Only what is missing: PostgreSQL refuses even CREATE TABLE IF NOT EXISTS
            # to a role that may use Janitor's tables but not create in their schema.
            missing = [ddl for table, ddl in SCHEMA.items() if not self._table_exists(run, table)]
            if missing:
                self._lock_schema(run)
                for statement in missing:
                    run(statement)

    def ping(self) -> None:
        """Raise RegistryUnavailable unless the database answers."""
        self._fetch("SELECT 1")

    def codebase_exists(self, name: str) -> bool:
        """Whether ``name`` is a registered codebase."""
        return bool(self._fetch("SELECT 1 FROM codebase WHERE name = ?", (name,)))

    def add_codebase(self, name: str) -> bool:
        """Register a codebase; False if it already was."""
        return self._change(
            "INSERT INTO codebase (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,)
        )

    def remove_codebase(self, name: str) -> bool:
        """Unregister a codebase (its repository stays on disk); False if it was not."""
        return self._change("DELETE FROM codebase WHERE name = ?", (name,))

    def list_codebases(self) -> list[str]:
        """Names of all codebases, sorted the same way on both backends."""
        return sorted(name for (name,) in self._fetch("SELECT name FROM codebase"))

    def page_codebases(self, contains: str, limit: int, offset: int) -> tuple[list[str], int]:
        """A page of codebase names containing ``contains`` in byte order, and how many match."""
        escaped = contains.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        # lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        where = "WHERE lower(name) LIKE ? ESCAPE '\\'"
        with self._transaction() as run:
            (total,) = run(f"SELECT count(*) FROM codebase {where}", (pattern,)).fetchone()
            rows = run(
                f"SELECT name FROM codebase {where} ORDER BY name {self.byte_order}"
                " LIMIT ? OFFSET ?", (pattern, limit, offset),
            ).fetchall()
        return [name for (name,) in rows], total

    def worker_password_hash(self, name: str) -> str | None:
        """The stored password hash of a worker, or None if there is no such worker."""
        rows = self._fetch("SELECT password FROM worker WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def add_worker(self, name: str, password_hash: str, admin: bool = False) -> None:
        """Register a worker; raise WorkerExists if the name is taken."""
        with self._transaction(write=True) as run:
            inserted = run(
                "INSERT INTO worker (name, password) VALUES (?, ?)"
                " ON CONFLICT (name) DO NOTHING",
                (name, password_hash),
            ).rowcount
            if not inserted:
                raise WorkerExists(f"worker {name!r} already exists")
            self._write_admin(run, name, admin)

    def set_worker_password(self, name: str, password_hash: str) -> bool:
        """Replace a worker's password hash; False if there is no such worker."""
        return self._change("UPDATE worker SET password = ? WHERE name = ?", (password_hash, name))

    def set_worker_admin(self, name: str, admin: bool) -> bool:
        """Grant or revoke the admin flag; False if there is no such worker."""
        with self._transaction(write=True) as run:
            if not run("SELECT 1 FROM worker WHERE name = ?", (name,)).fetchall():
                return False
            self._write_admin(run, name, admin)
            return True

    def remove_worker(self, name: str) -> bool:
        """Remove a worker and its admin flag; False if there was no such worker."""
        with self._transaction(write=True) as run:
            run("DELETE FROM bzrstore_admin WHERE worker = ?", (name,))
            return run("DELETE FROM worker WHERE name = ?", (name,)).rowcount > 0

    def list_workers(self) -> list[WorkerInfo]:
        """All workers with their admin flag, sorted by name."""
        rows = self._fetch(
            "SELECT w.name, a.worker IS NOT NULL FROM worker w"
            " LEFT JOIN bzrstore_admin a ON a.worker = w.name"
        )
        return [WorkerInfo(name, bool(admin)) for name, admin in sorted(rows)]

    def is_admin(self, name: str) -> bool:
        """Whether ``name`` is an existing worker with the admin flag."""
        # The join ignores a stale flag left by a worker removed outside bzrstore.
        return bool(self._fetch(
            "SELECT 1 FROM bzrstore_admin a JOIN worker w ON w.name = a.worker"
            " WHERE a.worker = ?",
            (name,),
        ))

    @staticmethod
    def _write_admin(run: Run, name: str, admin: bool) -> None:
        if admin:
            run("INSERT INTO bzrstore_admin (worker) VALUES (?) ON CONFLICT DO NOTHING", (name,))
        else:
            run("DELETE FROM bzrstore_admin WHERE worker = ?", (name,))


class SQLiteRegistry(Registry):
    """The embedded registry: one SQLite file in WAL mode, a connection per thread."""

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
            conn.execute("PRAGMA journal_mode=WAL")
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


class PostgresRegistry(Registry):
    """The shared registry: PostgreSQL through a psycopg pool opened lazily per process.

    A pool that fails is dropped and the next request opens a new one. psycopg_pool
    retries a lost connection with an exponential back-off (1, 2, 4 … s, for up to
    5 minutes), so after a long outage a kept pool would sleep far past the database's
    return; a new pool connects at once, so a worker heals on its first request after.
    """

    placeholder = "%s"
    byte_order = 'COLLATE "C"'

    def __init__(self, url: str, pool_size: int,
                 timeout_seconds: float = POOL_TIMEOUT_SECONDS) -> None:
        self.url = url
        self.pool_size = pool_size
        self.timeout_seconds = timeout_seconds
        self._pool: Any = None
        self._pid: int | None = None
        self._failing = False
        self._lock = threading.Lock()

    def _current_pool(self) -> Any:
        from psycopg_pool import ConnectionPool

        with self._lock:
            # A pool inherited through fork has no worker threads and shares sockets
            # with the parent: leave it untouched and open a fresh one here.
            if self._pool is None or self._pid != os.getpid():
                self._pool = ConnectionPool(
                    self.url, min_size=1, max_size=self.pool_size, open=False,
                    timeout=self.timeout_seconds,
                    kwargs={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
                    # After a database restart, pooled connections are dead: test on checkout.
                    check=ConnectionPool.check_connection,
                )
                self._pool.open(wait=False)
                self._pid = os.getpid()
            return self._pool

    @contextmanager
    def _connection(self, write: bool) -> Iterator[Any]:
        import psycopg

        pool = self._current_pool()
        timeout = OUTAGE_CHECKOUT_TIMEOUT_SECONDS if self._failing else self.timeout_seconds
        try:
            with pool.connection(timeout=timeout) as conn:
                yield conn
        except psycopg.OperationalError as exc:  # PoolTimeout is one too
            self._discard(pool)
            raise RegistryUnavailable(f"PostgreSQL registry: {exc}") from exc
        self._failing = False

    def _discard(self, pool: Any) -> None:
        """Drop ``pool`` after a failure, so the next request connects afresh."""
        with self._lock:
            if self._pool is not pool:
                return  # another thread already replaced it
            self._pool, self._failing = None, True
        # Closed aside: one of its threads may sit in a connect attempt to a dead host
        # (up to POSTGRES_CONNECT_TIMEOUT_SECONDS), and the request should not wait for it.
        threading.Thread(target=pool.close, name="bzrstore-pool-close", daemon=True).start()

    def _table_exists(self, run: Run, table: str) -> bool:
        return bool(run("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0])

    def _lock_schema(self, run: Run) -> None:
        run("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_ID,))

    def close(self) -> None:
        """Close this process's pool."""
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None and self._pid == os.getpid():
                pool.close()


def open_registry(settings: Settings) -> Registry:
    """The registry the settings name: PostgreSQL for a URL, else SQLite under data."""
    if settings.database_url:
        return PostgresRegistry(settings.database_url, settings.db_pool_size)
    return SQLiteRegistry(settings.sqlite_path)
