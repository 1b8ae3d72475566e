"""The registry's schema as an ordered list of migrations, each applied once.

A migration is never edited once released: a change of schema is a new migration at
the end. Each one only adds (tables, columns, indexes); none drops data. ``tables`` are
created only where missing, so migration 1 adopts a database made before versioning
(by an earlier bzrstore) or by Janitor (``codebase`` and ``worker`` are Janitor's own, with
more columns, and stay as they are); ``statements`` then run once, in the same
transaction as the version row that records them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its version, what it does, and its SQL."""

    version: int
    description: str
    # Table name -> CREATE TABLE statement, run only when the table is missing.
    tables: dict[str, str] = field(default_factory=dict)
    statements: tuple[str, ...] = ()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "codebases, workers, admins, branch tips, push log, form key",
        tables={
            # Janitor's tables have more columns; bzrstore only reads and writes these.
            "codebase": "CREATE TABLE codebase (name TEXT PRIMARY KEY)",
            "worker": "CREATE TABLE worker (name TEXT PRIMARY KEY, password TEXT NOT NULL)",
            "bzrstore_admin": "CREATE TABLE bzrstore_admin (worker TEXT PRIMARY KEY)",
            "bzrstore_branch": (
                "CREATE TABLE bzrstore_branch (codebase TEXT NOT NULL,"
                " path TEXT NOT NULL, revno INTEGER NOT NULL, revision_id TEXT NOT NULL,"
                " committer TEXT, timestamp DOUBLE PRECISION, message TEXT,"
                " PRIMARY KEY (codebase, path))"
            ),
            "bzrstore_push": (
                "CREATE TABLE bzrstore_push (codebase TEXT NOT NULL,"
                " path TEXT NOT NULL, old_revno INTEGER NOT NULL,"
                " old_revision_id TEXT NOT NULL, new_revno INTEGER NOT NULL,"
                " new_revision_id TEXT NOT NULL, worker TEXT,"
                " pushed_at DOUBLE PRECISION NOT NULL)"
            ),
            "bzrstore_secret": (
                "CREATE TABLE bzrstore_secret (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            ),
        },
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def pending(version: int) -> list[Migration]:
    """The migrations a database at ``version`` still needs, in order."""
    return [migration for migration in MIGRATIONS if migration.version > version]
