"""Smart-protocol request bytes, built with Breezy's own client-side encoder."""

from __future__ import annotations

from typing import Any

from breezy.bzr.smart import protocol


class _Collector:
    """Stands in for a client medium request: keeps the bytes the requester writes."""

    _medium = None

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def accept_bytes(self, data: bytes) -> None:
        self.parts.append(data)

    def finished_writing(self) -> None:
        pass


def request_v3(*args: bytes, body: bytes | None = None) -> bytes:
    """A protocol-3 request for ``args`` (the verb first), with an optional body."""
    collector = _Collector()
    requester = protocol.ProtocolThreeRequester(collector)
    requester.set_headers({})
    if body is None:
        requester.call(*args)
    else:
        requester.call_with_body_bytes(args, body)
    return b"".join(collector.parts)


def request_v1(*args: Any) -> bytes:
    """A protocol-1 request line."""
    return protocol._encode_tuple(args)


def request_v3_stream(args: tuple[bytes, ...], chunks: Any) -> bytes:
    """A protocol-3 request whose body is streamed in ``chunks`` (as insert_stream sends)."""
    collector = _Collector()
    requester = protocol.ProtocolThreeRequester(collector)
    requester.set_headers({})
    requester.call_with_body_stream(args, chunks)
    return b"".join(collector.parts)


def request_v2(*args: Any) -> bytes:
    """A protocol-2 request line after its version marker."""
    return protocol.REQUEST_VERSION_TWO + protocol._encode_tuple(args)
