"""Annotations kept once computed: in the process, and in a SQLite file the node's workers share.

An annotation is stored as the revision id of each line, newline-separated and
zlib-compressed (revision ids hold no whitespace): a 2,000-line file annotated by a
few dozen revisions takes a few KiB. Keys never go stale (see ``annotate.py``), so
entries are only dropped to bound the file: the oldest beyond ``max_rows``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import zlib
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "annotations.sqlite3"
# A busy file must not hold a page up; past this the cache is skipped for the request.
BUSY_TIMEOUT_SECONDS = 1.0
# Annotations kept on disk: a few KiB each, so ~50 MiB at most.
MAX_ROWS = 10_000
# Annotations kept in each process, compressed: a few KiB each.
MAX_MEMORY_ENTRIES = 256
# Rows written between two trims of the file to ``max_rows``.
TRIM_EVERY_PUTS = 100
SCHEMA = "CREATE TABLE IF NOT EXISTS annotation (key TEXT PRIMARY KEY, data BLOB NOT NULL)"


def encode(revisions: list[bytes]) -> bytes:
    """The stored form of one annotation: line revision ids, compressed."""
    return zlib.compress(b"\n".join(revisions))


def decode(data: bytes) -> list[bytes]:
    """The line revision ids of a stored annotation."""
    text = zlib.decompress(data)
    return text.split(b"\n") if text else []


class AnnotationCache:
    """Annotations by key: an in-process LRU in front of an optional shared SQLite file."""

    def __init__(self, path: Path | None, max_rows: int = MAX_ROWS,
                 max_memory_entries: int = MAX_MEMORY_ENTRIES) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_memory_entries = max_memory_entries
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._puts = 0

    def get(self, key: str) -> list[bytes] | None:
        """The annotation stored under ``key``, or None."""
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
        if data is None and self.path is not None:
            try:
                row = self._connection().execute(
                    "SELECT data FROM annotation WHERE key = ?", (key,)).fetchone()
            except (sqlite3.Error, OSError) as exc:
                log.error("annotation cache unreadable (%s): %s", self.path, exc)
                row = None
            if row is not None:
                data = row[0]
                self._remember(key, data)
        return decode(data) if data is not None else None

    def put(self, key: str, revisions: list[bytes]) -> None:
        """Store ``revisions`` (one per line) under ``key``."""
        data = encode(revisions)
        self._remember(key, data)
        if self.path is None:
            return
        try:
            with self._connection() as conn:
                conn.execute("INSERT OR REPLACE INTO annotation (key, data) VALUES (?, ?)",
                             (key, data))
                self._puts += 1
                if self._puts % TRIM_EVERY_PUTS == 0:
                    # Rowids grow with each insert: the smallest are the oldest.
                    conn.execute("DELETE FROM annotation WHERE rowid <= "
                                 "(SELECT MAX(rowid) FROM annotation) - ?", (self.max_rows,))
        except (sqlite3.Error, OSError) as exc:
            # Only a cache: the page is served, the next one computes it again.
            log.error("annotation not cached (%s): %s", self.path, exc)

    def _remember(self, key: str, data: bytes) -> None:
        with self._lock:
            self._memory[key] = data
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_memory_entries:
                self._memory.popitem(last=False)

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: one inherited through fork is never used.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # A lost row is recomputed: no fsync is worth it.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            conn.commit()
            local.conn, local.pid = conn, os.getpid()
        return local.conn
