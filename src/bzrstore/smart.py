"""Breezy's smart-server WSGI app, streaming both ways, mounted once per repository."""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from breezy.bzr.smart import medium, message, protocol, request
from breezy.bzr.smart import repository as smart_repository
from breezy.registry import Registry
from breezy.transport import Transport
from breezy.transport.http.wsgi import SmartWSGIApp
from breezy.transport.readonly import ReadonlyTransportDecorator
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from .liveness import heartbeat_of
from .storage import jailed_transport

log = logging.getLogger(__name__)

# Request bytes are handed to the protocol in pieces of this size.
REQUEST_CHUNK_BYTES = 64 * 1024
# A response that fits is sent whole with a Content-Length, like stock Breezy
# does (one write, no chunked framing for the many tiny RPCs); a larger one is
# streamed as the protocol writes it.
RESPONSE_BUFFER_BYTES = 64 * 1024
# Stream chunks of a push waiting for the inserter thread; Breezy's own queue is
# unbounded, so a fast client could make a worker hold a whole push in memory.
INSERT_QUEUE_CHUNKS = 2
INCOMPLETE_REQUEST = b"error\x01incomplete request\n"

StartResponse = Callable[..., Callable[[bytes], object]]


class _BoundedInsertStream:
    """Mixin: insert_stream verbs whose chunk queue is bounded (back-pressure on the body)."""

    queue: queue.Queue[Any]
    insert_thread: threading.Thread

    def do_insert_stream_request(self, repository: Any, resume_tokens: bytes) -> None:
        self.tokens = [t.decode("utf-8") for t in resume_tokens.split(b" ") if t]
        self.repository = repository
        self.queue = queue.Queue(maxsize=INSERT_QUEUE_CHUNKS)
        self.insert_thread = threading.Thread(target=self._inserter_thread, daemon=True)
        self.insert_thread.start()

    def do_chunk(self, body_stream_chunk: bytes) -> None:
        while self.insert_thread.is_alive():
            try:
                self.queue.put(body_stream_chunk, timeout=1.0)
                return
            except queue.Full:
                continue
        # The inserter stopped on an error; do_end reports it.


def _bounded(cls: type) -> type:
    return type(cls.__name__, (_BoundedInsertStream, cls), {})


_BOUNDED_VERBS = {
    b"Repository.insert_stream": smart_repository.SmartServerRepositoryInsertStream,
    b"Repository.insert_stream_1.19": smart_repository.SmartServerRepositoryInsertStream_1_19,
    b"Repository.insert_stream_locked": smart_repository.SmartServerRepositoryInsertStreamLocked,
}


def build_command_registry() -> Registry:
    """Breezy's verb registry, with insert_stream verbs that keep memory bounded."""
    commands: Registry = Registry()
    for verb in request.request_handlers.keys():
        handler = request.request_handlers.get(verb)
        if verb in _BOUNDED_VERBS:
            handler = _bounded(_BOUNDED_VERBS[verb])
        commands.register(verb, handler, info=request.request_handlers.get_info(verb))
    return commands


class _ResponseWriter:
    """Buffers a small response; streams a large one straight to the socket."""

    def __init__(self, start_response: StartResponse, heartbeat: Callable[[], None]) -> None:
        self._start_response = start_response
        self._heartbeat = heartbeat
        self._write: Callable[[bytes], object] | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0

    @property
    def started(self) -> bool:
        return self._write is not None

    def write(self, data: bytes) -> None:
        if self._write is None:
            self._buffer.append(data)
            self._buffered += len(data)
            if self._buffered <= RESPONSE_BUFFER_BYTES:
                return
            self._write = self._start_response(
                "200 OK", [("Content-Type", "application/octet-stream")]
            )
            data, self._buffer = b"".join(self._buffer), []
        self._write(data)
        self._heartbeat()

    def finish(self, complete: bool) -> Iterable[bytes]:
        """Return the WSGI body: what is still buffered, or Breezy's incomplete-request error."""
        if self._write is not None:
            return []
        body = b"".join(self._buffer) if complete else INCOMPLETE_REQUEST
        self._start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
        )
        return [body]


# A body stream that a dispatcher in front already limited (and partly read).
LIMITED_INPUT_KEY = "bzrstore.input"


def iter_request_body(environ: dict[str, Any], max_bytes: int) -> Iterator[bytes]:
    """Yield the request body in chunks; RequestEntityTooLarge past ``max_bytes``."""
    stream: BinaryIO = environ.get(LIMITED_INPUT_KEY) or get_input_stream(
        environ, max_content_length=max_bytes
    )
    while True:
        try:
            chunk = stream.read(REQUEST_CHUNK_BYTES)
        except ClientDisconnected:
            return  # a truncated body: the protocol reports the request incomplete
        if not chunk:
            return
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
        """Feed the body to Breezy's protocol as it arrives; write replies as they come."""
        if environ["REQUEST_METHOD"] != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST")])
            return [b"smart requests are POSTed\n"]
        transport, rcp = self._request_transport(environ["breezy.relpath"])
        heartbeat = heartbeat_of(environ)
        writer = _ResponseWriter(start_response, heartbeat)
        server_protocol = None
        pending = b""
        try:
            for chunk in iter_request_body(environ, self.max_body_bytes):
                heartbeat()
                if server_protocol is None:
                    # The protocol version is known once the first line is in.
                    pending += chunk
                    if b"\n" not in pending:
                        continue
                    server_protocol, chunk = self._make_protocol(
                        transport, writer.write, pending, rcp
                    )
                server_protocol.accept_bytes(chunk)
                if server_protocol.next_read_size() == 0:
                    break
            else:
                if server_protocol is None and pending:
                    server_protocol, chunk = self._make_protocol(
                        transport, writer.write, pending, rcp
                    )
                    server_protocol.accept_bytes(chunk)
        except RequestEntityTooLarge:
            if writer.started:
                raise
            start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])
            return [b"request body too large\n"]
        complete = server_protocol is not None and server_protocol.next_read_size() == 0
        return writer.finish(complete)

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
        return factory(transport, write, rcp, self.backing_transport), unused

    def close(self) -> None:
        """Unregister the chroot scheme this app registered."""
        self.chroot_server.stop_server()


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
