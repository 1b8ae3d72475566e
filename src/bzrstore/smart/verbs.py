"""Smart-protocol verbs: which one a request carries, and whether it only reads."""

from __future__ import annotations

import struct
from typing import Any

from breezy.bzr.smart import protocol, request
from fastbencode import bdecode_as_tuple

# Longest request head (protocol marker and request line, or protocol 3's headers
# and arguments) accepted: brz's longest is ~150 bytes (a clone, pull, log, export
# of the medium benchmark repository); a request line with a thousand revision ids
# still fits. Past it a request is refused instead of being searched further.
MAX_REQUEST_HEAD_BYTES = 1024 * 1024
_LENGTH = struct.Struct("!L")


def _protocol_three_args(message: bytes) -> tuple[Any, ...] | None:
    """The request arguments of a protocol-3 message (after its version marker).

    A message starts with its length-prefixed bencoded headers, then the
    arguments as a structure part: ``s``, a length, bencoded data. Reading just
    that costs a fraction of running Breezy's whole decoder state machine.
    """
    if len(message) < _LENGTH.size:
        return None
    args_at = _LENGTH.size + _LENGTH.unpack_from(message)[0]
    if message[args_at : args_at + 1] != b"s" or len(message) < args_at + 1 + _LENGTH.size:
        return None
    start = args_at + 1 + _LENGTH.size
    end = start + _LENGTH.unpack_from(message, args_at + 1)[0]
    if len(message) < end:
        return None
    try:
        return bdecode_as_tuple(message[start:end])
    except ValueError:
        return None


def head_length(head: bytes) -> int | None:
    """Bytes of ``head`` up to the end of its first line, or (protocol 2) its request line.

    None while that line is incomplete. Protocols 1 and 2 are decoded by Breezy only
    once this much has arrived; protocol 3's first line is its version marker.
    """
    first = head.find(b"\n")
    if first < 0:
        return None
    if not head.startswith(protocol.REQUEST_VERSION_TWO):
        return first + 1
    second = head.find(b"\n", first + 1)
    return None if second < 0 else second + 1


def decode_verb(head: bytes) -> bytes | None:
    """The verb of a request starting with ``head``, or None if not (yet) decodable."""
    if head.startswith(protocol.MESSAGE_VERSION_THREE):
        args = _protocol_three_args(head[len(protocol.MESSAGE_VERSION_THREE) :])
    else:
        end = head_length(head)
        if end is None:
            return None
        start = len(protocol.REQUEST_VERSION_TWO) if head.startswith(
            protocol.REQUEST_VERSION_TWO) else 0
        args = protocol._decode_tuple(head[start:end])
    if not args or not isinstance(args[0], bytes):
        return None
    return args[0]


def is_read_only(verb: bytes | None, commands: Any = request.request_handlers) -> bool:
    """True if Breezy's verb registry marks ``verb`` read-only (unknown verbs fail anyway)."""
    if verb is None:
        return True
    try:
        return commands.get_info(verb) == "read"
    except KeyError:
        return True
