"""The shared registry: PostgreSQL through a psycopg pool opened lazily per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bzrstore.registry.base import Registry, RegistryUnavailable, Run

# PostgreSQL: how long a request waits for a pooled connection before answering 503.
POOL_TIMEOUT_SECONDS = 10.0
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# PostgreSQL, after a failure and until a checkout succeeds: while the database is away a
# request answers 503 this soon instead of holding a sync worker for POOL_TIMEOUT_SECONDS.
OUTAGE_CHECKOUT_TIMEOUT_SECONDS = 2.0
# Any constant: serialises concurrent schema upgrades (`bzrstore db upgrade`).
SCHEMA_LOCK_ID = 0x627A7273


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
        # The catalog read with this statement's snapshot, not to_regclass(): that goes
        # through the backend's name cache, which may still remember the table as
        # missing after another upgrader, whose lock we waited for, created it.
        return bool(run(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = ? AND n.nspname = ANY (current_schemas(false)))",
            (table,)).fetchone()[0])

    def _lock_schema(self, run: Run) -> None:
        # Held until the transaction ends: the next upgrader then reads the new version.
        run("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_ID,))

    def close(self) -> None:
        """Close this process's pool."""
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None and self._pid == os.getpid():
                pool.close()
