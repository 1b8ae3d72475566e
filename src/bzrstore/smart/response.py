"""A smart request's answer: small ones whole, large ones streamed, errors in its protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from breezy import errors
from breezy.bzr.smart import protocol

# A response that fits is sent whole with a Content-Length, like stock Breezy
# does (one write, no chunked framing for the many tiny RPCs); a larger one is
# streamed as the protocol writes it.
RESPONSE_BUFFER_BYTES = 64 * 1024
INCOMPLETE_REQUEST = b"error\x01incomplete request\n"

StartResponse = Callable[..., Callable[[bytes], object]]


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
        return self.replace(body)

    def replace(self, body: bytes, status: str = "200 OK",
                content_type: str = "application/octet-stream") -> Iterable[bytes]:
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
