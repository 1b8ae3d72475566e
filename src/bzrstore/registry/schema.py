"""The schema's version in the database, and bringing it up to date (mixed into Registry).

``bzrstore_schema`` holds one row per applied migration (``migrations.py``) with when it
was applied; no table means version 0 (an empty database, or one made before
versioning). Only ``upgrade_schema`` runs DDL; a service that must not (PostgreSQL)
only reads the version and refuses to start when it is behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from bzrstore.registry.errors import SchemaBehind
from bzrstore.registry.migrations import LATEST_VERSION, Migration, pending

Run = Callable[..., Any]

VERSION_TABLE = "bzrstore_schema"
VERSION_TABLE_DDL = (
    "CREATE TABLE bzrstore_schema (version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


class SchemaVersions:
    """The schema's version, its check and its upgrade (mixed into Registry)."""

    _transaction: Callable[..., AbstractContextManager[Run]]
    # Whether a starting service may upgrade the schema itself (SPEC: the embedded
    # default may; on PostgreSQL the service's role need not be able to CREATE).
    upgrades_itself = False

    def _table_exists(self, run: Run, table: str) -> bool:
        """Whether ``table`` is visible to this connection."""
        raise NotImplementedError

    def _lock_schema(self, run: Run) -> None:
        """Hold off concurrent upgraders until this transaction ends (where needed)."""

    def schema_version(self) -> int:
        """The version of the database's schema: 0 before any migration was recorded."""
        with self._transaction() as run:
            return self._read_version(run)

    def applied_migrations(self) -> list[tuple[int, str, float]]:
        """Each recorded migration: version, description, when (epoch seconds), in order."""
        with self._transaction() as run:
            if not self._table_exists(run, VERSION_TABLE):
                return []
            return run(f"SELECT version, description, applied_at FROM {VERSION_TABLE}"
                       " ORDER BY version").fetchall()

    def check_schema(self) -> int:
        """The schema's version; SchemaBehind if it is older than this bzrstore's.

        A newer schema is accepted: migrations only add, so an older node keeps working
        beside one already upgraded (one node at a time in a cluster).
        """
        version = self.schema_version()
        if version < LATEST_VERSION:
            raise SchemaBehind(version, LATEST_VERSION)
        return version

    def upgrade_schema(self) -> list[Migration]:
        """Apply the migrations the database lacks, in one transaction; return them.

        An up-to-date schema is only read (no lock, no DDL), so any role that may use
        the tables can run this; concurrent upgraders wait for each other and the later
        ones find nothing left to do.
        """
        with self._transaction(write=True) as run:
            if not pending(self._read_version(run)):
                return []
            self._lock_schema(run)
            todo = pending(self._read_version(run))  # again: another upgrader may have won
            if todo and not self._table_exists(run, VERSION_TABLE):
                run(VERSION_TABLE_DDL)
            for migration in todo:
                self._apply(run, migration)
            return todo

    def prepare_schema(self) -> None:
        """What a starting service or command does: upgrade where allowed, else check."""
        if self.upgrades_itself:
            self.upgrade_schema()
        else:
            self.check_schema()

    def _read_version(self, run: Run) -> int:
        if not self._table_exists(run, VERSION_TABLE):
            return 0
        (version,) = run(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        return version or 0

    def _apply(self, run: Run, migration: Migration) -> None:
        for table, ddl in migration.tables.items():
            if not self._table_exists(run, table):
                run(ddl)
        for statement in migration.statements:
            run(statement)
        run(f"INSERT INTO {VERSION_TABLE} (version, description, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.description, time.time()))
