"""Breezy's smart-server WSGI app, streaming both ways, mounted once per repository."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from breezy.bzr.smart import medium, message, protocol, request
from breezy.registry import Registry
from breezy.transport import Transport
from breezy.transport.http.wsgi import SmartWSGIApp
from breezy.transport.readonly import ReadonlyTransportDecorator
from werkzeug.exceptions import BadRequest, HTTPException

from bzrstore.node.liveness import heartbeat_of
from bzrstore.repos.storage import jailed_transport
from bzrstore.smart.body import request_body
from bzrstore.smart.response import ResponseWriter, StartResponse, error_answer
from bzrstore.smart.verb_limits import build_command_registry, protocol_one_or_two
from bzrstore.smart.verbs import MAX_REQUEST_HEAD_BYTES, head_length

log = logging.getLogger(__name__)

# Request bytes are handed to the protocol in pieces of this size.
REQUEST_CHUNK_BYTES = 64 * 1024
# Protocols 1 and 2 (bzr before 1.6; brz sends them only to probe with "hello")
# rescan their whole buffer while a body's length line is missing: a request in them
# is kept this short so that costs nothing.
MAX_PROTOCOL_TWO_REQUEST_BYTES = 1024 * 1024


def iter_request_body(environ: dict[str, Any], max_bytes: int) -> Iterator[bytes]:
    """Yield the request body in chunks; RequestEntityTooLarge past its limit."""
    body = request_body(environ, max_bytes)
    while chunk := body.read(REQUEST_CHUNK_BYTES):
        yield chunk


class StreamingSmartApp(SmartWSGIApp):
    """SmartWSGIApp whose request and response bodies stream instead of being buffered."""

    def __init__(
        self,
        backing_transport: Transport,
        root_client_path: str = "/",
        commands: Registry | None = None,
        max_body_bytes: int = 1024**3,
    ) -> None:
        super().__init__(backing_transport, root_client_path)
        self.commands = commands if commands is not None else build_command_registry()
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Feed the body to Breezy's protocol as it arrives; write replies as they come.

        Whatever fails is answered as a smart-protocol error (or a short 4xx for an
        unacceptable body) while nothing was sent; after that the body just ends.
        """
        if environ["REQUEST_METHOD"] != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST")])
            return [b"smart requests are POSTed\n"]
        writer = ResponseWriter(start_response, heartbeat_of(environ))
        exchange = _Exchange()
        try:
            self._exchange(environ, writer, exchange)
        except HTTPException as exc:
            if writer.started:
                log.warning("smart request on %s ended: %s", _path(environ), exc.description)
                return []
            message = f"{exc.description}\n".encode()
            return writer.replace(message, f"{exc.code} {exc.name}", "text/plain")
        except Exception:
            log.exception("smart request failed on %s", _path(environ))
            if writer.started:
                return []
            return writer.replace(error_answer(exchange.head, "internal error"))
        return writer.finish(exchange.complete)

    def _exchange(self, environ: dict[str, Any], writer: ResponseWriter,
                  exchange: _Exchange) -> None:
        """Hand the body to Breezy's protocol, made once its first line (v2: two) is in.

        The head is searched for newlines only in the chunk just read and is capped,
        so a body without one costs linear time.
        """
        transport, rcp = self._request_transport(environ["breezy.relpath"])
        heartbeat = heartbeat_of(environ)
        for chunk in iter_request_body(environ, self.max_body_bytes):
            heartbeat()
            if exchange.protocol is None:
                exchange.head += chunk
                if b"\n" not in chunk or head_length(exchange.head) is None:
                    if len(exchange.head) > MAX_REQUEST_HEAD_BYTES:
                        raise BadRequest(f"smart request head over {MAX_REQUEST_HEAD_BYTES} bytes")
                    continue
                exchange.protocol, chunk = self._make_protocol(
                    transport, writer.write, exchange.head, rcp)
            exchange.feed(chunk)
            if exchange.complete:
                return
        if exchange.protocol is None and exchange.head:
            exchange.protocol, chunk = self._make_protocol(
                transport, writer.write, exchange.head, rcp)
            exchange.feed(chunk)

    def _request_transport(self, relpath: str) -> tuple[Transport, str | None]:
        """The transport a request addresses and the root client path left to apply."""
        relpath = "/" + relpath.strip("/") + "/" if relpath.strip("/") else "/"
        rcp = self.root_client_path
        if relpath.startswith(rcp):
            adjusted_rcp, adjusted_relpath = None, relpath[len(rcp) :]
        elif rcp.startswith(relpath):
            adjusted_rcp, adjusted_relpath = "/" + rcp[len(relpath) :], "."
        else:
            adjusted_rcp, adjusted_relpath = rcp, relpath
        return self.backing_transport.clone(adjusted_relpath.lstrip("/")), adjusted_rcp

    def _make_protocol(
        self, transport: Transport, write: Callable[[bytes], None], head: bytes, rcp: str | None
    ) -> tuple[Any, bytes]:
        """Breezy's server protocol for ``head``; protocol 3 gets our verb registry."""
        if head.startswith(protocol.MESSAGE_VERSION_THREE):
            handler = request.SmartServerRequestHandler(
                transport, commands=self.commands, root_client_path=rcp,
                jail_root=self.backing_transport,
            )
            responder = protocol.ProtocolThreeResponder(write)
            decoder = protocol.ProtocolThreeDecoder(
                message.ConventionalRequestHandler(handler, responder)
            )
            return decoder, head[len(protocol.MESSAGE_VERSION_THREE) :]
        factory, unused = medium._get_protocol_factory_for_bytes(head)
        factory = protocol_one_or_two(factory, self.commands)
        return factory(transport, write, rcp, self.backing_transport), unused

    def close(self) -> None:
        """Unregister the chroot scheme this app registered."""
        self.chroot_server.stop_server()


class _Exchange:
    """One request's progress: its head so far, then Breezy's server protocol."""

    def __init__(self) -> None:
        self.head = b""
        self.protocol: Any = None
        self._fed = 0

    def feed(self, chunk: bytes) -> None:
        """Hand ``chunk`` to the protocol; 400 once a protocol 1 or 2 request grows too long."""
        self._fed += len(chunk)
        if self._fed > MAX_PROTOCOL_TWO_REQUEST_BYTES and not self.head.startswith(
                protocol.MESSAGE_VERSION_THREE):
            raise BadRequest(
                f"protocol 1 and 2 requests are limited to {MAX_PROTOCOL_TWO_REQUEST_BYTES} bytes")
        self.protocol.accept_bytes(chunk)

    @property
    def complete(self) -> bool:
        """True once the protocol has read a whole request."""
        return self.protocol is not None and self.protocol.next_read_size() == 0


def _path(environ: dict[str, Any]) -> str:
    return environ.get("PATH_INFO") or "/" + environ.get("breezy.relpath", "")


def make_smart_app(root: Path, writable: bool, max_body_bytes: int,
                   commands: Registry | None = None) -> StreamingSmartApp:
    """A streaming smart app jailed at ``root``; read-only unless ``writable``."""
    transport: Transport = jailed_transport(root, hide_lock_info=not writable)
    if not writable:
        transport = ReadonlyTransportDecorator("readonly+" + transport.base, transport)
    return StreamingSmartApp(transport, "/", commands, max_body_bytes)


class SmartAppCache:
    """Mounted apps per (codebase, writable), least recently used dropped past a bound.

    Each app registers a process-global chroot scheme, so apps are built once
    and kept, never built per request.
    """

    def __init__(self, factory: Callable[[str, bool], StreamingSmartApp], size: int) -> None:
        self._factory = factory
        self._size = size
        self._apps: OrderedDict[tuple[str, bool], StreamingSmartApp] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, codebase: str, writable: bool) -> StreamingSmartApp:
        """The app for ``codebase``, built on first use."""
        key = (codebase, writable)
        with self._lock:
            app = self._apps.get(key)
            if app is not None:
                self._apps.move_to_end(key)
                return app
            app = self._apps[key] = self._factory(codebase, writable)
            if len(self._apps) > self._size:
                _, dropped = self._apps.popitem(last=False)
                dropped.close()
            return app

    def __len__(self) -> int:
        return len(self._apps)

    def close(self) -> None:
        """Close every mounted app."""
        with self._lock:
            for app in self._apps.values():
                app.close()
            self._apps.clear()


class StandaloneSmartApp:
    """One streaming smart app over a whole directory, like Breezy's ``make_app``."""

    def __init__(self, app: StreamingSmartApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.endswith("/.bzr/smart"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not a smart URL\n"]
        environ["breezy.relpath"] = path[: -len("/.bzr/smart")]
        return self.app(environ, start_response)


def make_standalone_app(root: str | Path, writable: bool = True) -> StandaloneSmartApp:
    """Serve every branch under ``root`` with no auth (benchmarks, local use)."""
    return StandaloneSmartApp(make_smart_app(Path(root), writable, 1024**3))
