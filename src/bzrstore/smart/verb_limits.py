"""The verbs we serve: Breezy's registry, less the verbs that could exhaust a worker.

One smart request may grow a worker by at most 128 MiB and, unless it moves repository
data (clone, pull, push), use at most 10 s of CPU. Most of Breezy's verbs do work that
follows their (small, bounded) input; the ones below do not, and are refused or capped.
"""

from __future__ import annotations

import functools
import queue
import threading
from typing import Any

from breezy.bzr.smart import protocol, request, vfs
from breezy.bzr.smart import repository as smart_repository
from breezy.registry import Registry

from bzrstore.smart.diskfull import ROLLED_BACK_VERBS

MIB = 1024 * 1024
# Not served: answered UnknownMethod, as by an older server, and brz carries on
# without them (checked with a real client in tests/test_smart_limits.py).
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
        return type(cls.__name__, (_BoundedInsertStream, cls), {})
    return _REPLACED_VERBS.get(verb) or request.request_handlers.get(verb)


def buffers_body(verb: bytes | None, commands: Registry) -> bool:
    """True unless ``verb`` consumes its body as a stream (insert_stream)."""
    try:
        return commands.get_info(verb) != "stream"
    except KeyError:
        return True


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
