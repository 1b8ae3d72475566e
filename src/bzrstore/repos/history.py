"""A tip's merge-sorted history (dotted revnos, merge depth), computed once per tip and kept.

Dotted revnos depend on the whole ancestry of the tip, so Breezy merge-sorts all of it
(the Rust ``KnownGraph``) whenever one is asked for, and keeps the result only on the
branch object, which a request opens afresh. The result depends on the tip alone and
never changes, so it is kept here, per process, for the tips seen last, bounded by
the number of entries held (about 250 bytes each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from breezy.revision import NULL_REVISION

from bzrstore.repos.lru import WeightedCache

# Entries kept over all cached tips: ~25 MiB. The newest tip is kept whatever its size,
# so a huge history is merge-sorted once per push, not once per page.
MAX_CACHED_ENTRIES = 100_000


@dataclass(frozen=True)
class HistoryEntry:
    """One revision in merge-sorted order: its id, merge depth and (dotted) revno."""

    revid: bytes
    depth: int
    revno: str
    end_of_merge: bool


class History:
    """The merge-sorted ancestry of one tip, newest first, with lookups both ways."""

    def __init__(self, entries: list[HistoryEntry]) -> None:
        self.entries = entries
        # Positions of the mainline (depth 0) revisions, newest first.
        self.mainline = [n for n, entry in enumerate(entries) if entry.depth == 0]
        self._positions = {entry.revid: n for n, entry in enumerate(entries)}
        self._revnos = {entry.revno: n for n, entry in enumerate(entries)}

    def __len__(self) -> int:
        return len(self.entries)

    def position(self, revid: bytes) -> int | None:
        """Where ``revid`` is in ``entries``; None when it is not in this history."""
        return self._positions.get(revid)

    def revno(self, revid: bytes) -> str | None:
        """The (dotted) revno of ``revid`` in this history, or None."""
        position = self._positions.get(revid)
        return None if position is None else self.entries[position].revno

    def revid(self, revno: tuple[int, ...]) -> bytes | None:
        """The revision id of ``revno`` (a tuple like ``(12,)`` or ``(1, 2, 3)``), or None."""
        position = self._revnos.get(".".join(map(str, revno)))
        return None if position is None else self.entries[position].revid

    def merged_under(self, position: int) -> list[HistoryEntry]:
        """The revisions the revision at ``position`` merged (nested ones too), in order."""
        depth = self.entries[position].depth
        end = position + 1
        while end < len(self.entries) and self.entries[end].depth > depth:
            end += 1
        return self.entries[position + 1:end]


_cache: WeightedCache[History] = WeightedCache(MAX_CACHED_ENTRIES)


def history_of(branch: Any) -> History:
    """The merge-sorted history of ``branch``'s tip (from the cache when seen before)."""
    with branch.lock_read():
        return history_at(branch.repository, branch.last_revision())


def history_at(repository: Any, tip: bytes) -> History:
    """The merge-sorted history of ``tip`` in ``repository``, cached per (repository, tip)."""
    key = (repository.user_url, tip)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    history = _merge_sort(repository, tip)
    return _cache.put(key, history, len(history))


def _merge_sort(repository: Any, tip: bytes) -> History:
    """Merge-sort the ancestry of ``tip`` as ``Branch.iter_merge_sorted_revisions`` does."""
    if tip == NULL_REVISION:
        return History([])
    with repository.lock_read():
        graph = repository.get_known_graph_ancestry([tip])
        nodes = graph.merge_sort(tip)
    return History([HistoryEntry(node.key, node.merge_depth, ".".join(map(str, node.revno)),
                                 node.end_of_merge) for node in nodes])


def clear_cache() -> None:
    """Forget every cached history (tests)."""
    _cache.clear()
