"""The streaming smart app, called directly with hand-built PEP 3333 environs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from breezy.controldir import ControlDir

from bzrstore import create_app
from bzrstore.auth import hash_password
from bzrstore.config import load_settings
from bzrstore.repos.storage import create_shared_repository
from bzrstore.smart.app import MAX_CACHED_TRANSPORTS, REQUEST_CHUNK_BYTES, make_smart_app
from bzrstore.smart.body import RequestBody
from bzrstore.smart.dispatch import SmartAppCache
from helpers import basic
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


def call(app, body: bytes, relpath: str = "", length: bool = True,
         max_bytes: int | None = None):
    stream = RecordingInput(body)
    environ = {"REQUEST_METHOD": "POST", "breezy.relpath": relpath,
               "wsgi.input": stream, "wsgi.input_terminated": not length}
    if length:
        environ["CONTENT_LENGTH"] = str(len(body))
    if max_bytes is not None:  # bounded as the dispatcher bounds it
        environ["wsgi.input"] = RequestBody(environ, max_bytes)
    responder = Responder()
    returned = app(environ, responder)
    assert isinstance(returned, list)  # the whole exchange ran inside the call
    return responder, b"".join(returned), stream


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    create_shared_repository(root)
    return root


def test_large_response_streams_through_write(repo: Path):
    payload = bytes(range(256)) * 8192  # 2 MiB
    (repo / "big").write_bytes(payload)
    app = make_smart_app(repo, writable=False)
    responder, returned, _ = call(app, request_v3(b"get", b"big"))
    assert responder.status == "200 OK"
    assert "Content-Length" not in responder.headers
    assert returned == b""
    assert len(responder.writes) >= 2  # sent in pieces as the protocol flushed them
    assert payload in b"".join(responder.writes)


def test_small_response_is_sent_whole_with_length(repo: Path):
    app = make_smart_app(repo, writable=False)
    responder, returned, _ = call(app, request_v3(b"hello"))
    assert responder.writes == []
    assert responder.headers["Content-Length"] == str(len(returned))
    assert b"ok" in returned


def test_request_body_is_read_in_bounded_chunks(repo: Path):
    payload = b"y" * (3 * REQUEST_CHUNK_BYTES + 100)
    app = make_smart_app(repo, writable=True)
    _, returned, stream = call(app, request_v3(b"put", b"file", b"", body=payload))
    assert b"ok" in returned
    assert (repo / "file").read_bytes() == payload
    assert max(stream.reads) <= REQUEST_CHUNK_BYTES
    assert len(stream.reads) >= 4


def test_chunked_body_without_length(repo: Path):
    app = make_smart_app(repo, writable=False)
    _, returned, _ = call(app, request_v3(b"hello"), length=False)
    assert b"ok" in returned


def test_chunked_body_over_the_limit_is_413(repo: Path):
    app = make_smart_app(repo, writable=True)
    body = request_v3(b"put", b"file", b"", body=b"z" * 5000)
    responder, _, _ = call(app, body, length=False, max_bytes=1000)
    assert responder.status.startswith("413")
    assert not (repo / "file").exists()


def test_read_only_app_refuses_writes(repo: Path):
    app = make_smart_app(repo, writable=False)
    _, returned, _ = call(app, request_v1(b"mkdir", b"x", b""))
    assert b"error" in returned.lower() or b"readonly" in returned.lower()
    assert not (repo / "x").exists()


def test_paths_served_keep_their_transports_within_a_bound(repo: Path):
    (repo / "a").mkdir()
    (repo / "a" / "f").write_bytes(b"in a")
    app = make_smart_app(repo, writable=False)
    kept = app._request_transport("a")
    _, returned, _ = call(app, request_v3(b"get", b"f"), relpath="a")
    assert b"in a" in returned
    assert app._request_transport("a") is kept  # cloned once, not per request
    _, returned, _ = call(app, request_v3(b"get", b"f"), relpath="b")
    assert b"NoSuchFile" in returned and b"in a" not in returned
    for i in range(MAX_CACHED_TRANSPORTS + 10):
        app._request_transport(f"p{i}")
    assert app._request_transport.cache_info().currsize == MAX_CACHED_TRANSPORTS


def test_a_symlink_planted_under_a_path_already_served_is_refused(repo: Path, tmp_path: Path):
    # The jail is checked on every access, not when a kept transport was cloned.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"secret")
    (repo / "a").mkdir()
    app = make_smart_app(repo, writable=False)
    _, returned, _ = call(app, request_v3(b"get", b"f"), relpath="a")
    assert b"NoSuchFile" in returned
    (repo / "a").rmdir()
    (repo / "a").symlink_to(outside)
    _, returned, _ = call(app, request_v3(b"get", b"f"), relpath="a")
    assert b"NoSuchFile" in returned and b"secret" not in returned


def test_app_cache_closes_evicted_apps(repo: Path, tmp_path: Path):
    built: list = []

    def factory(codebase: str, writable: bool):
        app = make_smart_app(repo, writable)
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


# --- the push context: the exchange runs inside __call__ --------------------------------

def _environ(body: bytes, headers: dict[str, str]) -> dict:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/bzr/alpha/trunk/.bzr/smart",
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
               "CONTENT_LENGTH": str(len(body))}
    environ.update(("HTTP_" + name.upper(), value) for name, value in headers.items())
    return environ


def test_tip_change_is_logged_before_the_call_returns(tmp_path: Path):
    """The dispatcher's push context is reset when the app returns: a lazy app would lose it."""
    app = create_app(load_settings(environ={}, data=tmp_path / "data"))
    store = app.extensions["bzrstore"]
    store.registry.add_codebase("alpha")
    store.registry.add_worker("worker", hash_password("secret", rounds=4))
    worker = basic("worker", "secret")

    def post(*args: bytes) -> list[bytes]:
        return app.wsgi_app(_environ(request_v1(*args), worker), Responder())

    post(b"hello")  # makes the repository
    tree = ControlDir.create_standalone_workingtree(str(tmp_path / "work"))
    tree.commit("first", committer="Test <test@example.com>")
    tree.branch.controldir.sprout(str(store.storage.codebase_dir("alpha") / "trunk"),
                                  create_tree_if_local=False)
    locked = b"".join(post(b"Branch.lock_write", b"", b"", b""))
    _, branch_token, repo_token = locked.rstrip(b"\n").split(b"\x01")
    returned = post(b"Branch.set_last_revision_info", b"", branch_token, repo_token,
                    b"0", b"null:")
    # Checked before the body is iterated: the tip moved and was logged inside the call.
    pushes = store.registry.recent_pushes("alpha")
    assert [(p.path, p.old_revno, p.new_revno, p.worker) for p in pushes] == [
        ("trunk", 1, 0, "worker")]
    assert returned == [b"ok\n"]
    assert b"".join(post(b"Branch.unlock", b"", branch_token, repo_token)) == b"ok\n"
