"""Branch tips and the push log in the registry: what listings read instead of the disk."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BranchTip:
    """A branch as the listing shows it: where its tip is and what that revision says."""

    path: str
    revno: int
    revision_id: str
    committer: str | None
    timestamp: float | None
    message: str | None


@dataclass(frozen=True)
class Push:
    """One change of a branch tip made through the store."""

    codebase: str
    path: str
    old_revno: int
    old_revision_id: str
    new_revno: int
    new_revision_id: str
    worker: str | None
    pushed_at: float


class BranchRecords:
    """Registry queries for branch tips and pushes (mixed into Registry)."""

    _transaction: Callable[..., AbstractContextManager[Callable[..., Any]]]

    def record_push(self, push: Push, tip: BranchTip) -> None:
        """Log ``push`` and make ``tip`` the branch's current tip, in one transaction."""
        with self._transaction(write=True) as run:
            run("INSERT INTO bzrstore_push (codebase, path, old_revno, old_revision_id,"
                " new_revno, new_revision_id, worker, pushed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (push.codebase, push.path, push.old_revno, push.old_revision_id,
                 push.new_revno, push.new_revision_id, push.worker, push.pushed_at))
            run("INSERT INTO bzrstore_branch (codebase, path, revno, revision_id, committer,"
                " timestamp, message) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (codebase, path) DO UPDATE SET revno = excluded.revno,"
                " revision_id = excluded.revision_id, committer = excluded.committer,"
                " timestamp = excluded.timestamp, message = excluded.message",
                (push.codebase, tip.path, tip.revno, tip.revision_id, tip.committer,
                 tip.timestamp, tip.message))

    def list_branches(self, codebase: str) -> list[BranchTip]:
        """The branches of ``codebase`` known from pushes, by path."""
        with self._transaction() as run:
            rows = run("SELECT path, revno, revision_id, committer, timestamp, message"
                       " FROM bzrstore_branch WHERE codebase = ?", (codebase,)).fetchall()
        return sorted((BranchTip(*row) for row in rows), key=lambda tip: tip.path)

    def codebase_activity(self, names: list[str]) -> list[CodebaseActivity]:
        """Branch count and last push of each of ``names``, in the same order."""
        if not names:
            return []
        selected = " UNION ALL ".join("SELECT ? AS name" for _ in names)
        query = (
            "SELECT c.name,"
            " (SELECT count(*) FROM bzrstore_branch b WHERE b.codebase = c.name),"
            " (SELECT max(p.pushed_at) FROM bzrstore_push p WHERE p.codebase = c.name),"
            " (SELECT p.worker FROM bzrstore_push p WHERE p.codebase = c.name"
            "  ORDER BY p.pushed_at DESC LIMIT 1)"
            f" FROM ({selected}) c"
        )
        with self._transaction() as run:
            rows = {row[0]: CodebaseActivity(*row) for row in run(query, tuple(names)).fetchall()}
        return [rows[name] for name in names]

    def recent_pushes(self, codebase: str | None = None, limit: int = 50) -> list[Push]:
        """The latest pushes, newest first, of one codebase or of all."""
        where, params = ("WHERE codebase = ?", (codebase,)) if codebase else ("", ())
        with self._transaction() as run:
            rows = run("SELECT codebase, path, old_revno, old_revision_id, new_revno,"
                       f" new_revision_id, worker, pushed_at FROM bzrstore_push {where}"
                       " ORDER BY pushed_at DESC LIMIT ?", (*params, limit)).fetchall()
        return [Push(*row) for row in rows]


@dataclass(frozen=True)
class CodebaseActivity:
    """A codebase as the admin page shows it: its branches and its last push."""

    name: str
    branches: int
    last_push_at: float | None
    last_worker: str | None

