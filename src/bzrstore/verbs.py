"""Smart-protocol verbs: which one a request carries, and whether it only reads."""

from __future__ import annotations

from typing import Any

from breezy.bzr.smart import message, protocol, request

# The verb sits in the first few hundred bytes; a request whose verb is not
# decoded by then is handed to the read-only server, which answers the error.
MAX_VERB_HEAD_BYTES = 64 * 1024


class _ArgsCatcher(message.MessageHandler):
    """Keeps the first structure (the request arguments) of a protocol-3 message."""

    def __init__(self) -> None:
        super().__init__()
        self.args: tuple[Any, ...] | None = None

    def structure_part_received(self, structure: Any) -> None:
        if self.args is None:
            self.args = tuple(structure)

    def byte_part_received(self, byte: bytes) -> None:
        pass

    def bytes_part_received(self, bytes: bytes) -> None:  # noqa: A002 - Breezy's name
        pass

    def protocol_error(self, exception: Exception) -> None:
        pass


def decode_verb(head: bytes) -> bytes | None:
    """The verb of a request starting with ``head``, or None if not (yet) decodable."""
    if head.startswith(protocol.MESSAGE_VERSION_THREE):
        catcher = _ArgsCatcher()
        decoder = protocol.ProtocolThreeDecoder(catcher)
        try:
            decoder.accept_bytes(head[len(protocol.MESSAGE_VERSION_THREE) :])
        except Exception:  # noqa: BLE001 - garbage is the server's to answer
            return None
        args = catcher.args
    else:
        if head.startswith(protocol.REQUEST_VERSION_TWO):
            head = head[len(protocol.REQUEST_VERSION_TWO) :]
        line, newline, _ = head.partition(b"\n")
        if not newline:
            return None
        try:
            args = protocol._decode_tuple(line + b"\n")
        except Exception:  # noqa: BLE001
            return None
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
