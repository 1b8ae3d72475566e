"""The streaming smart app, called directly with hand-built PEP 3333 environs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bzrstore.repos.storage import create_shared_repository
from bzrstore.smart import app as smart
from bzrstore.smart import verb_limits
from bzrstore.smart.app import SmartAppCache, make_smart_app
from bzrstore.smart.verbs import decode_verb
from smartwire import request_v1, request_v3


class RecordingInput:
    """A wsgi.input (read() only, like a server's) that remembers the size of every read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        data = self._data.read(size)
        self.reads.append(len(data))
        return data


class Responder:
    """start_response that records the status, headers and every write()."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: dict[str, str] = {}
        self.writes: list[bytes] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info=None):
        self.status, self.headers = status, dict(headers)
        return self.writes.append


def call(app, body: bytes, relpath: str = "", length: bool = True):
    stream = RecordingInput(body)
    environ = {"REQUEST_METHOD": "POST", "breezy.relpath": relpath,
               "wsgi.input": stream, "wsgi.input_terminated": not length}
    if length:
        environ["CONTENT_LENGTH"] = str(len(body))
    responder = Responder()
    returned = b"".join(app(environ, responder))
    return responder, returned, stream


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    create_shared_repository(root)
    return root


def test_large_response_streams_through_write(repo: Path):
    payload = bytes(range(256)) * 8192  # 2 MiB
    (repo / "big").write_bytes(payload)
    app = make_smart_app(repo, writable=False, max_body_bytes=1 << 20)
    responder, returned, _ = call(app, request_v3(b"get", b"big"))
    assert responder.status == "200 OK"
    assert "Content-Length" not in responder.headers
    assert returned == b""
    assert len(responder.writes) >= 2  # sent in pieces as the protocol flushed them
    assert payload in b"".join(responder.writes)


def test_small_response_is_sent_whole_with_length(repo: Path):
    app = make_smart_app(repo, writable=False, max_body_bytes=1 << 20)
    responder, returned, _ = call(app, request_v3(b"hello"))
    assert responder.writes == []
    assert responder.headers["Content-Length"] == str(len(returned))
    assert b"ok" in returned


def test_request_body_is_read_in_bounded_chunks(repo: Path):
    payload = b"y" * (3 * smart.REQUEST_CHUNK_BYTES + 100)
    app = make_smart_app(repo, writable=True, max_body_bytes=1 << 24)
    _, returned, stream = call(app, request_v3(b"put", b"file", b"", body=payload))
    assert b"ok" in returned
    assert (repo / "file").read_bytes() == payload
    assert max(stream.reads) <= smart.REQUEST_CHUNK_BYTES
    assert len(stream.reads) >= 4


def test_chunked_body_without_length(repo: Path):
    app = make_smart_app(repo, writable=False, max_body_bytes=1 << 20)
    _, returned, _ = call(app, request_v3(b"hello"), length=False)
    assert b"ok" in returned


def test_chunked_body_over_the_limit_is_413(repo: Path):
    app = make_smart_app(repo, writable=True, max_body_bytes=1000)
    body = request_v3(b"put", b"file", b"", body=b"z" * 5000)
    responder, _, _ = call(app, body, length=False)
    assert responder.status.startswith("413")
    assert not (repo / "file").exists()


def test_read_only_app_refuses_writes(repo: Path):
    app = make_smart_app(repo, writable=False, max_body_bytes=1 << 20)
    _, returned, _ = call(app, request_v1(b"mkdir", b"x", b""))
    assert b"error" in returned.lower() or b"readonly" in returned.lower()
    assert not (repo / "x").exists()


def test_bounded_insert_queue_is_installed():
    commands = verb_limits.build_command_registry()
    for verb in (b"Repository.insert_stream", b"Repository.insert_stream_1.19",
                 b"Repository.insert_stream_locked"):
        assert issubclass(commands.get(verb), verb_limits._BoundedInsertStream)
        assert commands.get_info(verb) == "stream"
    assert commands.get_info(b"hello") == "read"


def test_app_cache_closes_evicted_apps(repo: Path, tmp_path: Path):
    built: list = []

    def factory(codebase: str, writable: bool):
        app = make_smart_app(repo, writable, 1 << 20)
        built.append(app)
        return app

    cache = SmartAppCache(factory, size=2)
    first = cache.get("a", False)
    assert cache.get("a", False) is first
    cache.get("b", False)
    cache.get("c", True)
    assert len(cache) == 2 and len(built) == 3
    # The evicted app's chroot scheme is unregistered.
    from breezy.transport import UnsupportedProtocol, get_transport

    with pytest.raises(UnsupportedProtocol):
        get_transport(first.chroot_server.get_url())
    cache.close()


@pytest.mark.parametrize("body, verb", [
    (request_v3(b"Repository.insert_stream_1.19", b"", b""), b"Repository.insert_stream_1.19"),
    (request_v3(b"put", b"f", b"", body=b"data"), b"put"),
    (request_v1(b"get", b"x"), b"get"),
    (b"bzr request 2\n" + request_v1(b"mkdir", b"x", b""), b"mkdir"),
    (request_v3(b"hello")[:30], None),            # cut inside the arguments
    (b"bzr message 3 (bzr 1.6)\n\x00\x00\x00\x02des\x00\x00\x00\x09garbage!!", None),
    (b"no newline yet", None),
])
def test_decode_verb(body: bytes, verb: bytes | None):
    assert decode_verb(body) == verb
