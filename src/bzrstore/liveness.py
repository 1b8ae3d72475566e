"""A long smart request tells gunicorn's arbiter that its worker is alive while bytes move.

A sync worker notifies the arbiter only between requests, so one push or clone longer
than gunicorn's ``timeout`` would be killed however fast it progresses. With a heartbeat
the timeout means "no byte moved for this long": progress never trips it, a stuck
worker still does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# Where the heartbeat is found in a request's environ (absent outside gunicorn).
HEARTBEAT_KEY = "bzrstore.heartbeat"
# Touching the worker's heartbeat file is a syscall: once a second is plenty.
HEARTBEAT_INTERVAL_SECONDS = 1.0


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


class HeartbeatMiddleware:
    """Puts the serving worker's heartbeat into every request's environ."""

    def __init__(self, app: Any, notify: Callable[[], object]) -> None:
        self.app = app
        self.heartbeat = Heartbeat(notify)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ[HEARTBEAT_KEY] = self.heartbeat
        return self.app(environ, start_response)


def heartbeat_of(environ: dict[str, Any]) -> Callable[[], None]:
    """The request's heartbeat, or one that does nothing."""
    return environ.get(HEARTBEAT_KEY) or _silent


def _silent() -> None:
    pass
