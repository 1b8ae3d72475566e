"""The registry's interface and its SQL: codebases and workers (tips and keys mixed in)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from bzrstore.registry.branches import BranchRecords
from bzrstore.registry.errors import RegistryError
from bzrstore.registry.form_keys import FormKeyRecords
from bzrstore.registry.schema import Run, SchemaVersions

# The tables are made by migrations (migrations.py). Janitor's codebase and worker have
# more columns; the SQL here names only the ones bzrstore made, so an existing Janitor
# database works as it is. Our own tables are prefixed bzrstore_.
__all__ = ["Registry", "RegistryError", "RegistryUnavailable", "Run", "WorkerExists",
           "WorkerInfo"]


class RegistryUnavailable(RegistryError):
    """The database cannot be reached (the web layer answers 503)."""


class WorkerExists(RegistryError):
    """A worker of that name is already registered."""


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as listed: its name and whether it may use the admin pages."""

    name: str
    admin: bool


class Registry(SchemaVersions, BranchRecords, FormKeyRecords):
    """Codebases and workers; backends supply connections, SQL here uses ``?``."""

    placeholder = "?"
    # How each backend spells "compare names byte by byte" (PostgreSQL's default is locale order).
    byte_order = "COLLATE BINARY"

    def _connection(self, write: bool) -> AbstractContextManager[Any]:
        """A DB-API connection inside one transaction, committed when the block ends."""
        raise NotImplementedError

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
        """Names of all codebases, sorted the same way on both backends.

        Rows without a name are skipped: Janitor's ``codebase.name`` may be NULL (a
        codebase known only by its branch URL), and such a row has no repository here.
        """
        return sorted(name for (name,) in self._fetch(
            "SELECT name FROM codebase WHERE name IS NOT NULL"))

    def page_codebases(self, contains: str, limit: int, offset: int) -> tuple[list[str], int]:
        """A page of codebase names containing ``contains`` in byte order, and how many match."""
        escaped = contains.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        # lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        # NULL names (Janitor allows them) are left out of the rows and the count alike.
        where = "WHERE name IS NOT NULL AND lower(name) LIKE ? ESCAPE '\\'"
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
