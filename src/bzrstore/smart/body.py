"""A smart request's body: its head read ahead (to find the verb), its size limited once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length, get_input_stream

from bzrstore.smart.verbs import MAX_REQUEST_HEAD_BYTES, decode_verb

# The first read for the head; later reads double, so finding a long head stays linear.
FIRST_HEAD_READ_BYTES = 4096


class RequestBody:
    """``wsgi.input`` of a smart request: replays its head, refuses bytes past ``max_bytes``.

    Built once per request by the dispatcher and put back into ``wsgi.input`` (as
    dulwich's ``LimitedInputFilter`` does), so the mounted app reads it as it is and
    the limit is applied in one place.
    """

    def __init__(self, environ: dict[str, Any], max_bytes: int,
                 on_read: Callable[[int], object] | None = None) -> None:
        self.content_length = get_content_length(environ)
        self.max_bytes = max_bytes
        self._check_declared_length()
        # Ends at Content-Length, if any; a server that ends it itself (gunicorn) says so,
        # and werkzeug would only parse the length again to hand the same stream back.
        self._stream = (environ["wsgi.input"] if environ.get("wsgi.input_terminated")
                        else get_input_stream(environ))
        self._head = b""
        self._delivered = 0
        self._on_read = on_read

    def limit(self, max_bytes: int) -> None:
        """Lower the limit (e.g. for a request without credentials); 413 if already past it."""
        self.max_bytes = min(self.max_bytes, max_bytes)
        self._check_declared_length()
        if self._delivered > self.max_bytes:
            raise RequestEntityTooLarge(f"request body over {self.max_bytes} bytes")

    def _check_declared_length(self) -> None:
        if self.content_length is not None and self.content_length > self.max_bytes:
            raise RequestEntityTooLarge(f"request body over {self.max_bytes} bytes")

    def read_head(self) -> bytes | None:
        """Read until the verb decodes (or the body ends) and return the verb, if any.

        The bytes read are replayed by ``read``. A head still undecoded at
        ``MAX_REQUEST_HEAD_BYTES`` is a 400: searching it further is what made a
        newline-less body cost the square of its size.
        """
        head = b""
        verb = None
        size = FIRST_HEAD_READ_BYTES
        while verb is None:
            if len(head) >= MAX_REQUEST_HEAD_BYTES:
                raise BadRequest(f"smart request head over {MAX_REQUEST_HEAD_BYTES} bytes")
            chunk = self._read_raw(min(size, MAX_REQUEST_HEAD_BYTES - len(head)))
            if not chunk:
                break
            head += chunk
            size = len(head)
            verb = decode_verb(head)
        self._head = head
        return verb

    def _read_raw(self, size: int) -> bytes:
        # One byte past the limit tells a body over it from one that ends there.
        allowed = self.max_bytes - self._delivered + 1
        size = allowed if size < 0 else min(size, allowed)
        try:
            data = self._stream.read(size)
        except ClientDisconnected:
            data = b""  # a truncated body: the protocol reports the request incomplete
        self._delivered += len(data)
        if self._delivered > self.max_bytes:
            raise RequestEntityTooLarge(f"request body over {self.max_bytes} bytes")
        if data and self._on_read is not None:
            self._on_read(len(data))
        return data

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes: the head first, then the rest of the body."""
        if not self._head:
            return self._read_raw(size)
        if size < 0:
            data, self._head = self._head + self._read_raw(-1), b""
        else:
            data, self._head = self._head[:size], self._head[size:]
        return data

