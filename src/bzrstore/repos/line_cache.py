"""Lines computed once and kept: in each process, and in a SQLite file a node's workers share.

What is kept is immutable by its key: the revision of each line of a file text (annotate),
a file text's highlighted lines. A value is a list of byte strings without newlines,
stored newline-joined and zlib-compressed: a 2,000-line annotation takes a few KiB, its
highlighted HTML ~50 KiB. Keys never go stale, so entries are dropped only to bound the
memory (least recently used first) and the file (oldest first).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import zlib
from pathlib import Path

from bzrstore.repos.lru import WeightedCache

log = logging.getLogger(__name__)

FILE_NAME = "line-cache.sqlite3"
# A busy file must not hold a page up; past this the cache is skipped for the request.
BUSY_TIMEOUT_SECONDS = 1.0
# Compressed bytes kept on disk; past it the oldest quarter of the rows goes.
MAX_DISK_BYTES = 256 * 1024 * 1024
# Compressed bytes kept in each process.
MAX_MEMORY_BYTES = 16 * 1024 * 1024
# Rows written between two checks of the file's size.
TRIM_EVERY_PUTS = 100
SCHEMA = "CREATE TABLE IF NOT EXISTS line_cache (key TEXT PRIMARY KEY, data BLOB NOT NULL)"


def line_key(*parts: str | bytes) -> str:
    """A cache key from ``parts`` (length-prefixed, so no two tuples run together)."""
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(4, "big") + data)
    return digest.hexdigest()


def encode(lines: list[bytes]) -> bytes:
    """The stored form of ``lines``."""
    return zlib.compress(b"\n".join(lines))


def decode(data: bytes) -> list[bytes]:
    """The lines of a stored value."""
    text = zlib.decompress(data)
    return text.split(b"\n") if text else []


class LineCache:
    """Lists of lines by key: an in-process LRU in front of an optional shared SQLite file."""

    def __init__(self, path: Path | None, max_disk_bytes: int = MAX_DISK_BYTES,
                 max_memory_bytes: int = MAX_MEMORY_BYTES) -> None:
        self.path = path
        self.max_disk_bytes = max_disk_bytes
        self._memory: WeightedCache[bytes] = WeightedCache(max_memory_bytes)
        self._local = threading.local()
        self._puts = 0

    def get(self, key: str) -> list[bytes] | None:
        """The lines stored under ``key``, or None."""
        data = self._memory.get(key)
        if data is None and self.path is not None:
            try:
                row = self._connection().execute(
                    "SELECT data FROM line_cache WHERE key = ?", (key,)).fetchone()
            except (sqlite3.Error, OSError) as exc:
                log.error("line cache unreadable (%s): %s", self.path, exc)
                row = None
            if row is not None:
                data = self._memory.put(key, row[0], len(row[0]))
        return decode(data) if data is not None else None

    def put(self, key: str, lines: list[bytes]) -> None:
        """Store ``lines`` (none holding a newline) under ``key``."""
        data = encode(lines)
        self._memory.put(key, data, len(data))
        if self.path is None:
            return
        try:
            with self._connection() as conn:
                conn.execute("INSERT OR REPLACE INTO line_cache (key, data) VALUES (?, ?)",
                             (key, data))
                self._puts += 1
                if self._puts % TRIM_EVERY_PUTS == 0:
                    self._trim(conn)
        except (sqlite3.Error, OSError) as exc:
            # Only a cache: the page is served, the next one computes it again.
            log.error("lines not cached (%s): %s", self.path, exc)

    def _trim(self, conn: sqlite3.Connection) -> None:
        """Drop the oldest quarter of the rows (and one more) when the file holds too much."""
        (total,) = conn.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM line_cache").fetchone()
        if total > self.max_disk_bytes:
            # Rowids grow with each insert (a replaced row gets a new one): oldest first.
            conn.execute("DELETE FROM line_cache WHERE rowid <= (SELECT rowid FROM line_cache"
                         " ORDER BY rowid LIMIT 1 OFFSET (SELECT COUNT(*) / 4 FROM line_cache))")

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: one inherited through fork is never used.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # A lost row is computed again: no fsync is worth it.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            conn.commit()
            local.conn, local.pid = conn, os.getpid()
        return local.conn
