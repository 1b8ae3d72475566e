"""Smart verbs: which one a request carries, whether it only reads, and the ones we serve.

We serve Breezy's registry less the verbs that could exhaust a worker. One smart
request may grow a worker by at most 128 MiB and, unless it moves repository data
(clone, pull, push), use at most 10 s of CPU. Most of Breezy's verbs do work that
follows their (small, bounded) input; the ones below do not, and are refused or capped.
"""

from __future__ import annotations

import functools
import queue
import struct
import threading
from typing import Any

from breezy.bzr.smart import protocol, request, vfs
from breezy.bzr.smart import repository as smart_repository
from breezy.registry import Registry
from fastbencode import bdecode_as_tuple

from bzrstore.smart.diskfull import ROLLED_BACK_VERBS

MIB = 1024 * 1024
# Longest request head (protocol marker and request line, or protocol 3's headers
# and arguments) accepted: brz's longest is ~150 bytes (a clone, pull, log, export
# of the medium benchmark repository); a request line with a thousand revision ids
# still fits. Past it a request is refused instead of being searched further.
MAX_REQUEST_HEAD_BYTES = 1024 * 1024
# Not served: answered UnknownMethod, as by an older server, and brz carries on
# without them (checked with a real client in tests/smart/test_limits_e2e.py).
REFUSED_VERBS: dict[bytes, str] = {
    b"get_bundle": "builds the whole bundle of a revision's ancestry in memory",
    b"Repository.tarball": "copies the whole repository into a temporary directory",
    b"Repository.get_revision_graph":
        "the whole ancestry in one answer; brz calls it only on servers older than 1.2",
    b"Repository.annotate_file_revision":
        "CPU follows a file's whole history; brz annotates from the file texts without it",
    b"Repository.revision_archive":
        "compresses a whole tree in the worker; brz builds the archive itself without it",
}
# Largest body of a request whose verb holds it whole before running (every verb but
# insert_stream, whose stream is consumed as it comes). brz's largest is ~50 KB
# (iter_files_bytes exporting a 1,900-file tree). Parsed into keys a body takes
# ~15 times its size (get_stream_for_missing_keys: 61 MiB for 4 MiB, 121 for 8), so
# 4 MiB keeps a request inside the 128 MiB budget.
MAX_BUFFERED_BODY_BYTES = 4 * MIB
# readv and get answer from memory: brz's readv asks for at most 5 MiB a request
# (RemoteTransport._max_readv_bytes); the answer is copied about three times on its
# way out: a 16 MiB readv grew a worker by 36 MiB (medium benchmark repository).
MAX_READ_BYTES = 16 * MIB
# Offsets of one readv: each becomes a tuple before any byte is read (200 MiB of
# "0,1" offsets grew a worker to 6.7 GiB). brz coalesces its offsets first: 5 MiB in
# 4 KiB pages is 1,280.
MAX_READV_OFFSETS = 10_000
# Stream chunks of a push waiting for the inserter thread; Breezy's own queue is
# unbounded, so a fast client could make a worker hold a whole push in memory.
INSERT_QUEUE_CHUNKS = 2
_LENGTH = struct.Struct("!L")


# --- which verb a request carries ---------------------------------------------------

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
    # Bencoded arguments may be any value (a number, a dict): only a tuple has a verb.
    if not isinstance(args, tuple) or not args or not isinstance(args[0], bytes):
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


def buffers_body(verb: bytes | None, commands: Registry) -> bool:
    """True unless ``verb`` consumes its body as a stream (insert_stream)."""
    try:
        return commands.get_info(verb) != "stream"
    except KeyError:
        return True


# --- the verbs we serve: Breezy's, bounded ------------------------------------------

def _refusal(message: str) -> request.FailedSmartServerResponse:
    return request.FailedSmartServerResponse((b"error", message.encode("ascii")))


class BoundedReadv(vfs.ReadvRequest):
    """readv with a cap on its offsets and on the bytes it answers, checked before reading."""

    def do_body(self, body_bytes: bytes) -> Any:
        if body_bytes.count(b"\n") + 1 > MAX_READV_OFFSETS:
            return _refusal(f"readv of more than {MAX_READV_OFFSETS} offsets")
        offsets = self._deserialise_offsets(body_bytes)
        if any(start < 0 or length < 0 for start, length in offsets):
            return _refusal("readv offsets must not be negative")
        if sum(length for _, length in offsets) > MAX_READ_BYTES:
            return _refusal(f"readv of more than {MAX_READ_BYTES} bytes")
        return super().do_body(body_bytes)


class BoundedGet(vfs.GetRequest):
    """get of a file no larger than ``MAX_READ_BYTES`` (the answer is built in memory)."""

    def do(self, relpath: bytes) -> Any:
        size = self._backing_transport.stat(self.translate_client_path(relpath)).st_size
        if size > MAX_READ_BYTES:
            return _refusal(f"get of a file over {MAX_READ_BYTES} bytes: use readv")
        return super().do(relpath)


class BoundedInsertStream:
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


_REPLACED_VERBS: dict[bytes, type] = {
    b"readv": BoundedReadv,
    b"get": BoundedGet,
    **ROLLED_BACK_VERBS,
}
_STREAMED_VERBS: dict[bytes, type] = {
    b"Repository.insert_stream": smart_repository.SmartServerRepositoryInsertStream,
    b"Repository.insert_stream_1.19": smart_repository.SmartServerRepositoryInsertStream_1_19,
    b"Repository.insert_stream_locked": smart_repository.SmartServerRepositoryInsertStreamLocked,
}


def _bounded_handler(verb: bytes) -> type:
    if verb in _STREAMED_VERBS:
        cls = _STREAMED_VERBS[verb]
        return type(cls.__name__, (BoundedInsertStream, cls), {})
    return _REPLACED_VERBS.get(verb) or request.request_handlers.get(verb)


def build_command_registry() -> Registry:
    """Breezy's verb registry with every verb bounded, less ``REFUSED_VERBS``."""
    commands: Registry = Registry()
    for verb in request.request_handlers.keys():
        if verb not in REFUSED_VERBS:
            commands.register(verb, _bounded_handler(verb),
                              info=request.request_handlers.get_info(verb))
    return commands


class _OurCommands:
    """Mixin: a protocol 1 or 2 server whose request handler uses ``commands``.

    Breezy builds their handler over its global registry inside ``accept_bytes``
    (3.3); the handler is assigned to ``self.request`` before it sees the request's
    arguments, so this property swaps the registry in there.
    """

    commands: Registry
    _request: Any = None

    @property
    def request(self) -> Any:
        return self._request

    @request.setter
    def request(self, handler: Any) -> None:
        if handler is not None:
            handler._commands = self.commands
        self._request = handler


@functools.cache
def protocol_one_or_two(factory: type, commands: Registry) -> type:
    """Breezy's protocol 1 or 2 server class ``factory``, serving ``commands``."""
    if factory not in (protocol.SmartServerRequestProtocolOne,
                       protocol.SmartServerRequestProtocolTwo):
        raise ValueError(f"not a protocol 1 or 2 server: {factory!r}")
    return type(factory.__name__, (_OurCommands, factory), {"commands": commands})
