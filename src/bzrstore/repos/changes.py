"""A branch's history a page at a time: mainline revisions, the revisions each merged, tags.

The page is cut from the tip's merge-sorted history (``repos/history.py``, computed
once per tip), so page 40 costs what page 1 does: reading the page's revisions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from breezy.revision import NULL_REVISION

from bzrstore.repos.history import HistoryEntry, history_of
from bzrstore.repos.lru import WeightedCache
from bzrstore.repos.revisions import UnknownRevision, release_caches

# Mainline revisions a page (the URL contract).
CHANGES_PAGE_SIZE = 50
# Merged revisions listed under one mainline revision; the rest are counted, and the
# merging revision's page lists them (a merge of a long-lived branch can bring thousands).
MAX_MERGED_SHOWN = 100


@dataclass
class Change:
    """One revision as a history lists it."""

    revid: bytes
    revno: str
    depth: int
    message: str
    authors: list[str]
    committer: str
    timestamp: float
    timezone: int
    tags: list[str]
    merged: list[Change] = field(default_factory=list)
    merged_more: int = 0

    @property
    def summary(self) -> str:
        """The message's first line."""
        return self.message.strip().split("\n", 1)[0] if self.message.strip() else ""

    def as_json(self) -> dict[str, Any]:
        """The change as the JSON answer shows it (merged revisions nested)."""
        data: dict[str, Any] = {
            "revno": self.revno or None, "revision_id": self.revid.decode("utf-8", "replace"),
            "message": self.message, "authors": self.authors, "committer": self.committer,
            "timestamp": self.timestamp, "timezone": self.timezone, "tags": self.tags,
        }
        if self.depth == 0:
            data["merged"] = [change.as_json() for change in self.merged]
            data["merged_more"] = self.merged_more
        else:
            data["depth"] = self.depth
        return data


@dataclass
class ChangesPage:
    """One page of a branch's history, newest first."""

    changes: list[Change]
    page: int
    pages: int


def changes_page(branch: Any, page: int, per_page: int = CHANGES_PAGE_SIZE) -> ChangesPage:
    """Page ``page`` (1-based) of ``branch``'s mainline, merged revisions nested under each.

    A page past the last one is UnknownRevision (404); page 1 of an empty branch is empty.
    """
    history = history_of(branch)
    pages = max(1, math.ceil(len(history.mainline) / per_page))
    if page > pages:
        raise UnknownRevision(f"no page {page}: the history has {pages}")
    positions = history.mainline[(page - 1) * per_page:page * per_page]
    groups = [(position, history.merged_under(position)) for position in positions]
    wanted = [history.entries[p].revid for p, _ in groups]
    wanted += [entry.revid for _, merged in groups for entry in merged[:MAX_MERGED_SHOWN]]
    revisions = read_revisions(branch, wanted)
    tags = reverse_tags(branch)
    changes = []
    for position, merged in groups:
        change = entry_change(history.entries[position], revisions, tags)
        shown = merged[:MAX_MERGED_SHOWN]
        change.merged = [entry_change(entry, revisions, tags) for entry in shown]
        change.merged_more = max(0, len(merged) - MAX_MERGED_SHOWN)
        changes.append(change)
    return ChangesPage(changes, page, pages)


# Revision objects kept per process (~1 KiB each): a revision never changes, and reading
# 50 (one changes page) costs ~8 ms of decompression and parsing.
MAX_CACHED_REVISIONS = 20_000
_revisions: WeightedCache[Any] = WeightedCache(MAX_CACHED_REVISIONS)


def read_revisions(branch: Any, revids: list[bytes]) -> dict[bytes, Any]:
    """The revision objects of ``revids`` (which must be present): kept ones, the rest read.

    Callers must not change them: they are shared.
    """
    repository = branch.repository
    found = {revid: _revisions.get((repository.user_url, revid)) for revid in revids}
    missing = [revid for revid, revision in found.items() if revision is None]
    if missing:
        with repository.lock_read():
            for revid, revision in zip(missing, repository.get_revisions(missing), strict=True):
                found[revid] = _revisions.put((repository.user_url, revid), revision, 1)
        release_caches(repository)
    return found


def reverse_tags(branch: Any) -> dict[bytes, list[str]]:
    """The branch's tags by the revision they point at, each list sorted."""
    with branch.lock_read():
        reverse = branch.tags.get_reverse_tag_dict()
    return {revid: sorted(names) for revid, names in reverse.items()}


def entry_change(entry: HistoryEntry, revisions: dict[bytes, Any],
                 tags: dict[bytes, list[str]]) -> Change:
    """The ``Change`` of a history entry, its revision read already."""
    return change_of(revisions[entry.revid], entry.revno, entry.depth, tags)


def change_of(revision: Any, revno: str | None, depth: int,
              tags: dict[bytes, list[str]]) -> Change:
    """A ``Change`` from a Breezy revision object."""
    return Change(revid=revision.revision_id, revno=revno or "", depth=depth,
                  message=revision.message, authors=list(revision.get_apparent_authors()),
                  committer=revision.committer, timestamp=revision.timestamp,
                  timezone=revision.timezone or 0, tags=tags.get(revision.revision_id, []))


@dataclass
class RevisionDetail:
    """One revision with its place in a branch: revno, parents (with theirs), what it merged."""

    change: Change
    parents: list[tuple[bytes, str | None]]

    @property
    def left_parent(self) -> bytes:
        """What the revision's diff is against: its first parent, or null: for the first."""
        return self.parents[0][0] if self.parents else NULL_REVISION

    def as_json(self) -> dict[str, Any]:
        """The revision as the JSON answer shows it."""
        data = self.change.as_json()
        data.pop("depth", None)
        data["parents"] = [{"revision_id": revid.decode("utf-8", "replace"), "revno": revno}
                           for revid, revno in self.parents]
        return data


def describe_revision(branch: Any, revid: bytes) -> RevisionDetail:
    """``revid`` (present in the repository) as ``branch`` sees it: revno None if not in it.

    The revisions it merged are listed (as on a changes page) when it is in the branch.
    """
    history = history_of(branch)
    position = history.position(revid)
    merged = history.merged_under(position) if position is not None else []
    shown = merged[:MAX_MERGED_SHOWN]
    revisions = read_revisions(branch, [revid, *(entry.revid for entry in shown)])
    tags = reverse_tags(branch)
    change = change_of(revisions[revid], history.revno(revid), 0, tags)
    change.merged = [entry_change(entry, revisions, tags) for entry in shown]
    change.merged_more = len(merged) - len(shown)
    return RevisionDetail(change, [(parent, history.revno(parent))
                                   for parent in revisions[revid].parent_ids])


def recent_changes(branch: Any, count: int) -> list[Change]:
    """The newest ``count`` mainline revisions, newest first, without the merge sort."""
    with branch.lock_read():
        revno, tip = branch.last_revision_info()
        graph = branch.repository.get_graph()
        revids = list(itertools.islice(graph.iter_lefthand_ancestry(tip, [NULL_REVISION]),
                                       count))
    revisions = read_revisions(branch, revids)
    tags = reverse_tags(branch)
    return [change_of(revisions[revid], str(revno - n), 0, tags)
            for n, revid in enumerate(revids)]
