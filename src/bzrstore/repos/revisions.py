"""Breezy-only helpers: open a shared repository read-only, resolve revisions, revision info."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import breezy.bzr  # noqa: F401 - registers the Bazaar formats with ControlDir
from breezy.controldir import ControlDir
from breezy.revision import NULL_REVISION
from breezy.transport.readonly import ReadonlyTransportDecorator

from bzrstore.repos.jail import jailed_transport

MAX_REVISION_ID_BYTES = 1024
# Longest path a diff may be limited to: PATH_MAX on Linux.
MAX_PATH_CHARS = 4096
# Entries one revision-info answer holds (about 3 KiB and 40 us each); a Link header
# names the next page.
MAX_REVISION_INFO_ENTRIES = 10_000


class InvalidRevision(ValueError):
    """A revision id or path parameter that cannot be valid (maps to 400)."""


class UnknownRevision(LookupError):
    """A revision or path the repository does not have (maps to 404)."""


def open_repository(path: Path) -> Any:
    """Open the shared repository at ``path`` on a jailed, read-only transport."""
    transport = jailed_transport(path)
    readonly = ReadonlyTransportDecorator("readonly+" + transport.base, transport)
    return ControlDir.open_from_transport(readonly).open_repository()


def release_caches(repository: Any) -> None:
    """Drop the decompressed blocks ``repository`` caches (up to 50 MiB per store).

    A repository Breezy 3.3 opens is never freed, even by the cycle collector: without
    this a worker kept 40-50 MiB more after each large diff (measured on the medium
    benchmark repository), about 5 MiB with it.
    """
    for name in ("texts", "inventories", "chk_bytes", "revisions", "signatures"):
        cache = getattr(getattr(repository, name, None), "_group_cache", None)
        if cache is not None:
            cache.clear()


def resolve_revision(repository: Any, revid: str) -> bytes:
    """The revision id ``revid`` names in ``repository``, tolerating '+' decoded as ' '."""
    if not revid or len(revid.encode("utf-8", "surrogateescape")) > MAX_REVISION_ID_BYTES:
        raise InvalidRevision(f"invalid revision id: {revid[:100]!r}")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in revid):
        raise InvalidRevision(f"invalid revision id: {revid!r}")
    try:
        candidates = [revid.encode("utf-8")]
    except UnicodeEncodeError as exc:
        raise InvalidRevision(f"invalid revision id: {revid!r}") from exc
    if candidates[0] == NULL_REVISION:
        return NULL_REVISION
    if " " in revid:
        # A '+' in an unencoded query string arrives as a space (Janitor sends them so).
        candidates.append(candidates[0].replace(b" ", b"+"))
    with repository.lock_read():
        for candidate in candidates:
            if repository.has_revision(candidate):
                return candidate
    raise UnknownRevision(f"no such revision: {revid}")


def check_path(path: str) -> str:
    """``path`` as a tree-relative path, refusing absolute, ``..`` and control characters."""
    parts = path.strip("/").split("/")
    if len(path) > MAX_PATH_CHARS or any(ord(ch) < 0x20 for ch in path):
        raise InvalidRevision(f"invalid path: {path[:100]!r}")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidRevision(f"invalid path: {path!r}")
    return "/".join(parts)


def _lefthand_down_to(graph: Any, new_revid: bytes, old_revid: bytes, limit: int
                      ) -> list[bytes] | None:
    """The left-hand ancestry of NEW down to, not including, OLD, at most ``limit + 1`` long.

    Every revision above OLD on that line descends from OLD, so none is in its ancestry:
    the common case (OLD an earlier tip of the same branch) needs no graph search. None
    when the line ends (null: or a ghost) before OLD, or when the ``limit + 1`` found
    reach into OLD's ancestry: then the graph must decide.
    """
    revids: list[bytes] = []
    revid = new_revid
    while revid != old_revid and len(revids) <= limit:
        if revid == NULL_REVISION:
            return None
        parents = graph.get_parent_map([revid]).get(revid)
        if parents is None:  # a ghost: leave it to the graph search
            return None
        revids.append(revid)
        revid = parents[0] if parents else NULL_REVISION
    if len(revids) > limit and old_revid != NULL_REVISION and graph.is_ancestor(
            revids[-1], old_revid):
        return None
    return revids


def revision_info(repository: Any, old_revid: bytes, new_revid: bytes,
                  link: Callable[[bytes, bytes], str | None] | None = None,
                  limit: int = MAX_REVISION_INFO_ENTRIES
                  ) -> tuple[list[dict[str, Any]], bytes | None]:
    """Newest first, the left-hand ancestry of ``new_revid`` not in that of ``old_revid``.

    At most ``limit`` entries, and the revision to continue from (as the next ``new``)
    when there are more, else None. ``link(revid, left_parent)`` gives each entry's
    ``link``; without it links are None.
    """
    if new_revid == NULL_REVISION:
        return [], None
    with repository.lock_read():
        graph = repository.get_graph()
        revids = _lefthand_down_to(graph, new_revid, old_revid, limit)
        if revids is None:  # OLD is off the left-hand line: a merged or unrelated revision
            unique = graph.find_unique_ancestors(new_revid, [old_revid])
            # Ancestry of OLD is closed under parents: the first one in it ends the walk.
            revids = list(itertools.islice(itertools.takewhile(
                unique.__contains__, graph.iter_lefthand_ancestry(new_revid, [NULL_REVISION])),
                limit + 1))
        revids, following = revids[:limit], revids[limit:]
        revisions = dict(zip(revids, repository.get_revisions(revids), strict=True))
    release_caches(repository)
    entries = []
    for revid in revids:
        revision = revisions[revid]
        parent = revision.parent_ids[0] if revision.parent_ids else NULL_REVISION
        text = revid.decode("utf-8")
        entries.append({
            "revision-id": text, "revision_id": text, "message": revision.message,
            "link": link(revid, parent) if link is not None else None, "commit_id": None,
        })
    return entries, (following[0] if following else None)
