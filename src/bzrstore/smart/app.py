"""Breezy's smart-server WSGI app, streaming both ways, mounted once per repository."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from breezy import errors
from breezy.bzr.smart import medium, message, protocol, request
from breezy.registry import Registry
from breezy.transport import Transport
from breezy.transport.http.wsgi import SmartWSGIApp
from breezy.transport.readonly import ReadonlyTransportDecorator
from werkzeug.exceptions import BadRequest, HTTPException

from bzrstore.node.liveness import heartbeat_of
from bzrstore.repos.jail import jailed_transport
from bzrstore.smart.verbs import (
    MAX_REQUEST_HEAD_BYTES,
    build_command_registry,
    head_length,
    protocol_one_or_two,
)

log = logging.getLogger(__name__)

# Request bytes are handed to the protocol in pieces of this size.
REQUEST_CHUNK_BYTES = 64 * 1024
# Protocols 1 and 2 (bzr before 1.6; brz sends them only to probe with "hello")
# rescan their whole buffer while a body's length line is missing: a request in them
# is kept this short so that costs nothing.
MAX_PROTOCOL_TWO_REQUEST_BYTES = 1024 * 1024
# A response that fits is sent whole with a Content-Length, like stock Breezy
# does (one write, no chunked framing for the many tiny RPCs); a larger one is
# streamed as the protocol writes it.
RESPONSE_BUFFER_BYTES = 64 * 1024
INCOMPLETE_REQUEST = b"error\x01incomplete request\n"
# Bound on the request transports an app keeps, one per path a client addressed.
MAX_CACHED_TRANSPORTS = 256

StartResponse = Callable[..., Callable[[bytes], object]]


class StreamingSmartApp(SmartWSGIApp):
    """SmartWSGIApp whose request and response bodies stream instead of being buffered."""

    def __init__(self, backing_transport: Transport, root_client_path: str = "/",
                 commands: Registry | None = None) -> None:
        super().__init__(backing_transport, root_client_path)
        self.commands = commands if commands is not None else build_command_registry()
        # Every request of a command addresses the same few paths: a transport (which
        # holds no state of its own) is cloned once per path, not once per request.
        self._request_transport = functools.lru_cache(maxsize=MAX_CACHED_TRANSPORTS)(
            self._clone_request_transport)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """Feed ``wsgi.input`` to Breezy's protocol as it arrives; write replies as they come.

        ``wsgi.input`` is read as given: whoever mounts this app bounds it (the
        dispatcher's ``RequestBody``). Whatever fails is answered as a smart-protocol
        error (or a short 4xx for an unacceptable body) while nothing was sent; after
        that the body just ends.

        The whole exchange runs before this returns, and it must stay so (never a
        generator): the dispatcher attributes a push to its worker with a ContextVar
        (``pushlog.pushing``) that is reset once this returns, before a lazy body
        would have let Breezy move the branch tip (tests/smart/test_app.py holds this).
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
        body = environ["wsgi.input"]
        while chunk := body.read(REQUEST_CHUNK_BYTES):
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

    def _clone_request_transport(self, relpath: str) -> tuple[Transport, str | None]:
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
        self._request_transport.cache_clear()
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


class ResponseWriter:
    """Buffers a small response; streams a large one straight to the socket."""

    def __init__(self, start_response: StartResponse, heartbeat: Callable[[], None]) -> None:
        self._start_response = start_response
        self._heartbeat = heartbeat
        self._write: Callable[[bytes], object] | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0

    @property
    def started(self) -> bool:
        """True once the response has started (its status is sent)."""
        return self._write is not None

    def write(self, data: bytes) -> None:
        """Buffer ``data``, or start the response and send it once past the buffer."""
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

    def finish(self, complete: bool) -> list[bytes]:
        """Return the WSGI body: what is still buffered, or Breezy's incomplete-request error."""
        if self._write is not None:
            return []
        body = b"".join(self._buffer) if complete else INCOMPLETE_REQUEST
        return self.replace(body)

    def replace(self, body: bytes, status: str = "200 OK",
                content_type: str = "application/octet-stream") -> list[bytes]:
        """Drop what is buffered and answer ``body`` instead (the response has not started)."""
        self._buffer = []
        self._start_response(
            status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]


def error_answer(head: bytes, message: str) -> bytes:
    """A smart-protocol error in the version ``head`` speaks, as Breezy's clients read it."""
    if head.startswith(protocol.MESSAGE_VERSION_THREE):
        parts: list[bytes] = []
        protocol.ProtocolThreeResponder(parts.append).send_error(
            errors.SmartProtocolError(message))
        return b"".join(parts)
    answer = protocol._encode_tuple((b"error", message.encode("ascii")))
    if head.startswith(protocol.REQUEST_VERSION_TWO):
        return protocol.RESPONSE_VERSION_TWO + b"failed\n" + answer
    return answer


def make_smart_app(root: Path, writable: bool,
                   commands: Registry | None = None) -> StreamingSmartApp:
    """A streaming smart app jailed at ``root``; read-only unless ``writable``."""
    transport: Transport = jailed_transport(root, hide_lock_info=not writable)
    if not writable:
        transport = ReadonlyTransportDecorator("readonly+" + transport.base, transport)
    return StreamingSmartApp(transport, "/", commands)

