"""Breezy-only helpers: open a shared repository read-only, diffs, revision info."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import breezy.bzr  # noqa: F401 - registers the Bazaar formats with ControlDir
from breezy.controldir import ControlDir
from breezy.diff import show_diff_trees
from breezy.revision import NULL_REVISION
from breezy.transport.readonly import ReadonlyTransportDecorator

from .storage import jailed_transport

log = logging.getLogger(__name__)

# The labels brz diff uses by default (its --prefix 1), so output matches it.
OLD_LABEL = "old/"
NEW_LABEL = "new/"
# Chunks handed to the response; small enough to stream, large enough to be cheap.
DIFF_CHUNK_BYTES = 64 * 1024
# Chunks the diff thread may run ahead of the client: bounds memory per request.
DIFF_QUEUE_CHUNKS = 8
MAX_REVISION_ID_BYTES = 1024


class InvalidRevision(ValueError):
    """A revision id or path parameter that cannot be valid (maps to 400)."""


class UnknownRevision(LookupError):
    """A revision or path the repository does not have (maps to 404)."""


def open_repository(path: Path) -> Any:
    """Open the shared repository at ``path`` on a jailed, read-only transport."""
    transport = jailed_transport(path)
    readonly = ReadonlyTransportDecorator("readonly+" + transport.base, transport)
    return ControlDir.open_from_transport(readonly).open_repository()


def resolve_revision(repository: Any, revid: str) -> bytes:
    """The revision id ``revid`` names in ``repository``, tolerating '+' decoded as ' '."""
    if not revid or len(revid.encode("utf-8", "surrogateescape")) > MAX_REVISION_ID_BYTES:
        raise InvalidRevision(f"invalid revision id: {revid!r}")
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
    if any(part in ("", ".", "..") for part in parts) or any(ord(ch) < 0x20 for ch in path):
        raise InvalidRevision(f"invalid path: {path!r}")
    return "/".join(parts)


def write_diff(repository: Any, old_revid: bytes, new_revid: bytes, path: str | None = None,
               *, timeout_seconds: float = 60.0, max_bytes: int = 200 * 1024**2
               ) -> Iterator[bytes]:
    """A unified diff like ``brz diff -r revid:OLD..revid:NEW [path]``, streamed in chunks.

    The revisions and path are checked before this returns, so a caller can still answer
    404; the diff itself runs afterwards, as the iterator is consumed.
    """
    specific_files = None
    if path is not None:
        specific_files = [check_path(path)]
        with repository.lock_read():
            trees = [repository.revision_tree(r) for r in (old_revid, new_revid)]
            if not any(tree.is_versioned(specific_files[0]) for tree in trees):
                raise UnknownRevision(f"no such path in either revision: {path}")
    if old_revid == new_revid:
        return iter(())
    return _stream_diff(repository, old_revid, new_revid, specific_files,
                        timeout_seconds, max_bytes)


class DiffTooLarge(Exception):
    """The diff grew past its size limit."""


class DiffCancelled(Exception):
    """The reader went away or gave up; the diff thread should stop."""


class _QueueWriter:
    """A binary file-like object that hands its writes to a bounded queue in chunks."""

    def __init__(self, chunks: queue.Queue, cancelled: threading.Event, max_bytes: int) -> None:
        self.chunks = chunks
        self.cancelled = cancelled
        self.max_bytes = max_bytes
        self.total = 0
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        """Buffer ``data``; pass full chunks on; stop at the size limit or when cancelled."""
        if self.total + len(self.buffer) + len(data) > self.max_bytes:
            self.flush()
            raise DiffTooLarge()
        self.buffer += data
        if len(self.buffer) >= DIFF_CHUNK_BYTES:
            self.flush()

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Hand the buffered bytes to the reader, waiting while the queue is full."""
        if self.buffer:
            self.put(bytes(self.buffer))
            self.total += len(self.buffer)
            self.buffer.clear()

    def put(self, item: Any) -> None:
        """Queue ``item``, giving up when the reader has gone away."""
        while True:
            if self.cancelled.is_set():
                raise DiffCancelled()
            try:
                self.chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def _stream_diff(repository: Any, old_revid: bytes, new_revid: bytes,
                 specific_files: list[str] | None, timeout_seconds: float, max_bytes: int
                 ) -> Iterator[bytes]:
    """Run the diff in a thread and yield its chunks, ending it at the time or size limit."""
    chunks: queue.Queue = queue.Queue(maxsize=DIFF_QUEUE_CHUNKS)
    cancelled = threading.Event()
    writer = _QueueWriter(chunks, cancelled, max_bytes)
    thread = threading.Thread(
        target=_run_diff, name="bzrstore-diff", daemon=True,
        args=(repository, old_revid, new_revid, specific_files, writer),
    )
    deadline = time.monotonic() + timeout_seconds
    last = b"\n"
    thread.start()
    try:
        while True:
            try:
                item = chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                yield _stopped(last, f"took longer than {timeout_seconds:g} seconds")
                return
            if isinstance(item, bytes):
                last = item[-1:] or last
                yield item
            elif item is None:
                return
            elif isinstance(item, DiffTooLarge):
                yield _stopped(last, f"larger than {max_bytes} bytes")
                return
            else:
                yield _stopped(last, "internal error")
                return
    finally:
        cancelled.set()


def _stopped(last: bytes, reason: str) -> bytes:
    """The line that ends a diff cut short."""
    lead = b"" if last == b"\n" else b"\n"
    return lead + f"# bzrstore: diff stopped: {reason}\n".encode()


def _run_diff(repository: Any, old_revid: bytes, new_revid: bytes,
              specific_files: list[str] | None, writer: _QueueWriter) -> None:
    """Thread body: write the diff to ``writer``, then a sentinel (None or the exception)."""
    try:
        with repository.lock_read():
            old_tree = repository.revision_tree(old_revid)
            new_tree = repository.revision_tree(new_revid)
            show_diff_trees(old_tree, new_tree, writer, specific_files=specific_files,
                            old_label=OLD_LABEL, new_label=NEW_LABEL)
        writer.flush()
        writer.put(None)
    except DiffCancelled:
        return
    except DiffTooLarge as exc:
        _put_quietly(writer, exc)
    except Exception as exc:
        log.exception("diff %s..%s failed", old_revid, new_revid)
        _put_quietly(writer, exc)


def _put_quietly(writer: _QueueWriter, item: Any) -> None:
    """Pass on what was written, then ``item``, unless the reader has gone away."""
    try:
        writer.flush()
        writer.put(item)
    except DiffCancelled:
        pass


def _lefthand_down_to(graph: Any, new_revid: bytes, old_revid: bytes) -> list[bytes] | None:
    """The left-hand ancestry of NEW down to, not including, OLD; None when OLD is not on it.

    Every revision above OLD on that line descends from OLD, so none is in its ancestry:
    the common case (OLD an earlier tip of the same branch) needs no graph search.
    """
    revids: list[bytes] = []
    revid = new_revid
    while revid != old_revid:
        if revid == NULL_REVISION:
            return None
        parents = graph.get_parent_map([revid]).get(revid)
        if parents is None:  # a ghost: leave it to the graph search
            return None
        revids.append(revid)
        revid = parents[0] if parents else NULL_REVISION
    return revids


def revision_info(repository: Any, old_revid: bytes, new_revid: bytes,
                  link: Callable[[bytes, bytes], str | None] | None = None
                  ) -> list[dict[str, Any]]:
    """Newest first, the left-hand ancestry of ``new_revid`` not in that of ``old_revid``.

    ``link(revid, left_parent)`` gives each entry's ``link``; without it links are None.
    """
    if new_revid == NULL_REVISION:
        return []
    with repository.lock_read():
        graph = repository.get_graph()
        revids = _lefthand_down_to(graph, new_revid, old_revid)
        if revids is None:  # OLD is off the left-hand line: a merged or unrelated revision
            unique = graph.find_unique_ancestors(new_revid, [old_revid])
            # Ancestry of OLD is closed under parents: the first one in it ends the walk.
            revids = list(itertools.takewhile(
                unique.__contains__, graph.iter_lefthand_ancestry(new_revid, [NULL_REVISION])))
        revisions = dict(zip(revids, repository.get_revisions(revids), strict=True))
    entries = []
    for revid in revids:
        revision = revisions[revid]
        parent = revision.parent_ids[0] if revision.parent_ids else NULL_REVISION
        text = revid.decode("utf-8")
        entries.append({
            "revision-id": text, "revision_id": text, "message": revision.message,
            "link": link(revid, parent) if link is not None else None, "commit_id": None,
        })
    return entries
