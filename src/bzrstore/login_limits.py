"""Failed logins per client address and per user name, shared by a node's workers.

bcrypt is deliberately slow, so unlimited wrong passwords are a way to keep every
worker busy. Failures are counted in a small SQLite file in the runtime directory
(WAL: the workers of a node read it concurrently); a client or user name over the
limit is answered 429 before any hash is computed. ``WindowCounts``, the counter
itself, also keeps the budget of expensive pages (``page_budget``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

FILE_NAME = "login-failures.sqlite3"
# A busy file must not turn a login into a long wait; past this the check fails open.
BUSY_TIMEOUT_SECONDS = 2.0
SCHEMA = (
    # (Files written before the counter was shared held a table named failure: unread now.)
    "CREATE TABLE IF NOT EXISTS event (key TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS event_key_at ON event (key, at)",
)


class LoginLimited(TooManyRequests):
    """429 with ``Retry-After``: too many failed logins from this client or for this user."""


class WindowCounts:
    """Events per key within a sliding window, in a SQLite file shared by a node's workers.

    Concurrent callers may pass a limit by at most one event each (check, then add):
    a read and a write, not a transaction that would make workers wait on each other.
    A file that cannot be used is logged and counts nothing (fail open).
    """

    def __init__(self, path: Path, window_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.window_seconds = window_seconds
        self.clock = clock
        self._local = threading.local()

    def retry_after(self, keys: Iterable[str], limit: int, cost: int = 1) -> int | None:
        """Seconds until ``cost`` more events fit under ``limit`` for every key; None: now."""
        now = self.clock()
        oldest_blocking = None
        try:
            with self._connection() as conn:
                for key in keys:
                    # The event whose expiry leaves room for ``cost`` more under the limit.
                    row = conn.execute(
                        "SELECT at FROM event WHERE key = ? AND at > ? ORDER BY at DESC"
                        " LIMIT 1 OFFSET ?",
                        (key, now - self.window_seconds, max(0, limit - cost))).fetchone()
                    if row is not None:
                        oldest_blocking = max(oldest_blocking or row[0], row[0])
        except (sqlite3.Error, OSError) as exc:
            # Fail open: a broken counter file must not lock every client out.
            log.error("counts unreadable (%s): %s", self.path, exc)
        if oldest_blocking is None:
            return None
        return max(1, math.ceil(oldest_blocking + self.window_seconds - now))

    def add(self, keys: Iterable[str], cost: int = 1) -> None:
        """Count ``cost`` events now against each of ``keys``."""
        now = self.clock()
        try:
            with self._connection() as conn:
                conn.executemany("INSERT INTO event (key, at) VALUES (?, ?)",
                                 [(key, now) for key in keys for _ in range(cost)])
                # Forget what no window can count any more, so the file stays small.
                conn.execute("DELETE FROM event WHERE at <= ?", (now - self.window_seconds,))
        except (sqlite3.Error, OSError) as exc:
            log.error("event not counted (%s): %s", self.path, exc)

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: one inherited through fork is never used.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # Losing the last events in a power cut costs nothing worth an fsync.
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.commit()
            local.conn, local.pid = conn, os.getpid()
        return local.conn


def _keys(client: str, username: str) -> tuple[str, str]:
    # User names are whatever a client sends: a digest keeps rows short.
    user = hashlib.blake2b(username.encode("utf-8", "surrogatepass"), digest_size=16)
    return f"addr:{client}", f"user:{user.hexdigest()}"


class LoginLimits:
    """At most ``max_failures`` failed logins per address and per user within ``window``."""

    def __init__(self, run_dir: Path, max_failures: int, window_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.counts = WindowCounts(run_dir / FILE_NAME, window_seconds, clock)
        self.max_failures = max_failures

    def check(self, client: str, username: str) -> None:
        """Raise ``LoginLimited`` if the address or the user name is over the limit."""
        retry_after = self.counts.retry_after(_keys(client, username), self.max_failures)
        if retry_after is not None:
            raise LoginLimited("too many failed logins: try again later",
                               retry_after=retry_after)

    def record_failure(self, client: str, username: str) -> None:
        """Count one failed login against the address and the user name."""
        self.counts.add(_keys(client, username))
