"""Prometheus metrics: requests and latency per route, smart verbs and bytes, pushes.

With several gunicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` (set by gunicorn.conf.py)
makes every worker write its values to files that ``/metrics`` adds up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Label values must stay few: anything else a client sends is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
# Where the app names a request's route, the label its metrics are counted under: the
# Flask app writes its URL rule (web/preamble.py), the smart dispatcher "smart". An
# environ key because the route is known only deep inside the onion and read only by
# MetricsMiddleware, outside it, once the response is done.
ROUTE_KEY = "bzrstore.route"


@dataclass(frozen=True)
class Metrics:
    """The metrics one app updates, and the registry /metrics reads."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    smart_requests: Counter
    smart_bytes_in: Counter
    smart_bytes_out: Counter
    pushes: Counter
    # Labelled children by label values: labels() costs microseconds on every request.
    _children: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def _child(self, metric: Any, *values: str) -> Any:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def count_request(self, route: str, method: str, status: str, seconds: float) -> None:
        """One answered request of ``route`` and how long it took."""
        self._child(self.requests, route, method, status).inc()
        self._child(self.latency, route).observe(seconds)

    def count_smart(self, verb: str, writable: bool) -> None:
        """One smart request (``verb`` must come from Breezy's registry: bounded labels)."""
        self._child(self.smart_requests, verb, "true" if writable else "false").inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric, summed over workers in multiprocess mode."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def make_metrics() -> Metrics:
    """Fresh metrics in a registry of their own (one per app, no global state)."""
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        requests=Counter("bzrstore_http_requests", "HTTP requests answered",
                         ["route", "method", "status"], registry=registry),
        latency=Histogram("bzrstore_http_request_seconds", "Time to answer a request",
                          ["route"], registry=registry,
                          buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600)),
        smart_requests=Counter("bzrstore_smart_requests", "Smart requests by verb",
                               ["verb", "writable"], registry=registry),
        smart_bytes_in=Counter("bzrstore_smart_bytes_in", "Smart request body bytes read",
                               registry=registry),
        smart_bytes_out=Counter("bzrstore_smart_bytes_out", "Smart response bytes written",
                                registry=registry),
        pushes=Counter("bzrstore_pushes", "Branch tip changes made through the store",
                       registry=registry),
    )


class MetricsMiddleware:
    """Counts and times every request, by the route the app put in ``ROUTE_KEY``."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.perf_counter()
        seen = _Seen()

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.status = status[:3]
            write = start_response(status, headers, exc_info)

            def counting_write(data: bytes) -> None:
                seen.sent += len(data)
                write(data)

            return counting_write

        body = self.app(environ, recording_start_response)
        if isinstance(body, list):  # most answers: no need to wrap the iteration
            seen.sent += sum(map(len, body))
            self._record(environ, seen, started)
            return body
        return self._streamed(body, environ, seen, started)

    def _streamed(self, body: Iterable[bytes], environ: dict[str, Any], seen: _Seen,
                  started: float) -> Iterator[bytes]:
        try:
            for chunk in body:
                seen.sent += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            self._record(environ, seen, started)

    def _record(self, environ: dict[str, Any], seen: _Seen, started: float) -> None:
        route = environ.get(ROUTE_KEY, "unmatched")
        method = environ.get("REQUEST_METHOD", "")
        self.metrics.count_request(route, method if method in HTTP_METHODS else "other",
                                   seen.status, time.perf_counter() - started)
        if route == "smart":
            self.metrics.smart_bytes_out.inc(seen.sent)


@dataclass
class _Seen:
    """What a response has shown so far: its status and how many bytes were sent."""

    status: str = "000"
    sent: int = 0
