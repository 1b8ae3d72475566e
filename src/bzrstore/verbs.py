"""Smart-protocol verbs: which one a request carries, and whether it only reads."""

from __future__ import annotations

import struct
from typing import Any

from breezy.bzr.smart import protocol, request
from fastbencode import bdecode_as_tuple

# The verb sits in the first few hundred bytes; a request whose verb is not
# decoded by then is handed to the read-only server, which answers the error.
MAX_VERB_HEAD_BYTES = 64 * 1024
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


def decode_verb(head: bytes) -> bytes | None:
    """The verb of a request starting with ``head``, or None if not (yet) decodable."""
    if head.startswith(protocol.MESSAGE_VERSION_THREE):
        args = _protocol_three_args(head[len(protocol.MESSAGE_VERSION_THREE) :])
    else:
        if head.startswith(protocol.REQUEST_VERSION_TWO):
            head = head[len(protocol.REQUEST_VERSION_TWO) :]
        line, newline, _ = head.partition(b"\n")
        if not newline:
            return None
        args = protocol._decode_tuple(line + b"\n")
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
