"""A long smart request tells gunicorn's arbiter that its worker is alive while bytes move.

A sync worker notifies the arbiter only between requests, so one push or clone longer
than gunicorn's ``timeout`` would be killed however fast it progresses. With a heartbeat
the timeout means "no byte moved for this long": progress never trips it, a stuck
worker still does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# Where the heartbeat is found in a request's environ (absent outside gunicorn): a
# server extension in PEP 3333's sense (like gunicorn's own "gunicorn.socket"), put
# there by the worker (HeartbeatMiddleware) and read by the smart app (heartbeat_of).
HEARTBEAT_KEY = "bzrstore.heartbeat"
# Touching the worker's heartbeat file is a syscall: once a second is plenty.
HEARTBEAT_INTERVAL_SECONDS = 1.0
# A threaded worker stops telling the arbiter it is alive once one of its requests
# has moved no byte for this long, so the timeout reaps it as it reaps a stuck sync
# worker (a little later: by this much).
STILL_SECONDS = 2 * HEARTBEAT_INTERVAL_SECONDS


class Heartbeat:
    """Calls ``notify`` when called, at most once per interval."""

    def __init__(self, notify: Callable[[], object],
                 interval: float = HEARTBEAT_INTERVAL_SECONDS) -> None:
        self.notify = notify
        self.interval = interval
        self.last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.notify()


class ThreadProgress:
    """When the request each thread serves last moved a byte (threaded workers).

    A gthread worker's main loop tells the arbiter it is alive every second whatever
    its threads do; asking this first keeps "a stuck request gets its worker reaped".
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def begin(self) -> None:
        """The calling thread starts serving a request."""
        with self._lock:
            self._last[threading.get_ident()] = self.clock()

    def touch(self) -> None:
        """The calling thread's request moved bytes."""
        ident = threading.get_ident()
        with self._lock:
            if ident in self._last:
                self._last[ident] = self.clock()

    def end(self) -> None:
        """The calling thread's request is over."""
        with self._lock:
            self._last.pop(threading.get_ident(), None)

    def still_for(self) -> float:
        """Seconds since the stillest request in flight moved (0 with none in flight)."""
        with self._lock:
            oldest = min(self._last.values(), default=None)
        return 0.0 if oldest is None else self.clock() - oldest


class HeartbeatMiddleware:
    """Puts the serving worker's heartbeat into every request's environ.

    ``notify`` is the sync worker's own (rate limited here), or a threaded worker's
    ``ThreadProgress.touch``, which is cheap and per thread, so it is called as is.
    """

    def __init__(self, app: Any, notify: Callable[[], object], rate_limit: bool = True) -> None:
        self.app = app
        self.heartbeat = Heartbeat(notify) if rate_limit else notify

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ[HEARTBEAT_KEY] = self.heartbeat
        return self.app(environ, start_response)


def heartbeat_of(environ: dict[str, Any]) -> Callable[[], None]:
    """The request's heartbeat, or one that does nothing."""
    return environ.get(HEARTBEAT_KEY) or _silent


def _silent() -> None:
    pass
