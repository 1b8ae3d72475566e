"""One line about each of some revisions: who, when, what (for listings and annotate)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from breezy import errors

from bzrstore.repos.revisions import release_caches

# Characters of a message's first line that a summary keeps.
MAX_SUMMARY_CHARS = 80
# Summaries kept per process: about 300 bytes each, so ~6 MiB.
MAX_CACHED_SUMMARIES = 20_000


@dataclass(frozen=True)
class RevisionSummary:
    """A revision's author, time and the first line of its message."""

    revid: bytes
    author: str
    timestamp: float
    timezone: int
    summary: str


_cache: OrderedDict[tuple[str, bytes], RevisionSummary] = OrderedDict()
_lock = threading.Lock()


def summarize(repository: Any, revids: Iterable[bytes]) -> dict[bytes, RevisionSummary]:
    """Summaries of ``revids`` the repository has (ghosts are left out), by revision id.

    A revision never changes, so summaries are kept per process (by repository and id):
    reading 130 revisions cost 40 ms of an annotate page, every time.
    """
    scope = repository.user_url
    found: dict[bytes, RevisionSummary] = {}
    with _lock:
        for revid in set(revids):
            summary = _cache.get((scope, revid))
            if summary is not None:
                _cache.move_to_end((scope, revid))
                found[revid] = summary
    wanted = sorted(set(revids) - found.keys())
    if wanted:
        for summary in _read(repository, wanted):
            found[summary.revid] = summary
            with _lock:
                _cache[(scope, summary.revid)] = summary
                if len(_cache) > MAX_CACHED_SUMMARIES:
                    _cache.popitem(last=False)
    return found


def _read(repository: Any, wanted: list[bytes]) -> list[RevisionSummary]:
    """Summaries read from the repository."""
    with repository.lock_read():
        try:
            revisions = repository.get_revisions(wanted)
        except errors.NoSuchRevision:
            # A ghost among them: ask one by one (rare; a listing holds few revisions).
            revisions = [r for r in (_one(repository, revid) for revid in wanted) if r]
    release_caches(repository)
    return [_summary(revision) for revision in revisions]


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
