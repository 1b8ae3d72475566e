"""One line about each of some revisions: who, when, what (for listings and annotate)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from breezy import errors

from bzrstore.repos.revisions import release_caches

# Characters of a message's first line that a summary keeps.
MAX_SUMMARY_CHARS = 80


@dataclass(frozen=True)
class RevisionSummary:
    """A revision's author, time and the first line of its message."""

    revid: bytes
    author: str
    timestamp: float
    timezone: int
    summary: str


def summarize(repository: Any, revids: Iterable[bytes]) -> dict[bytes, RevisionSummary]:
    """Summaries of ``revids`` the repository has (ghosts are left out), by revision id."""
    wanted = sorted(set(revids))
    if not wanted:
        return {}
    with repository.lock_read():
        try:
            revisions = repository.get_revisions(wanted)
        except errors.NoSuchRevision:
            # A ghost among them: ask one by one (rare; a listing holds few revisions).
            revisions = [r for r in (_one(repository, revid) for revid in wanted) if r]
    release_caches(repository)
    return {revision.revision_id: _summary(revision) for revision in revisions}


def _one(repository: Any, revid: bytes) -> Any:
    try:
        return repository.get_revision(revid)
    except errors.NoSuchRevision:
        return None


def _summary(revision: Any) -> RevisionSummary:
    first = (revision.message or "").strip().split("\n", 1)[0]
    if len(first) > MAX_SUMMARY_CHARS:
        first = first[:MAX_SUMMARY_CHARS - 1] + "…"
    return RevisionSummary(revision.revision_id, revision.get_apparent_authors()[0],
                           revision.timestamp, revision.timezone or 0, first)
