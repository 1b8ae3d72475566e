"""Bounds on one smart request: its head, its body, the verbs refused or capped, its errors."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from breezy.bzr.bzrdir import BzrDir
from flask import Flask

from bzrstore.smart.app import MAX_PROTOCOL_TWO_REQUEST_BYTES, make_smart_app
from bzrstore.smart.body import RequestBody
from bzrstore.smart.verbs import (
    MAX_BUFFERED_BODY_BYTES,
    MAX_READ_BYTES,
    MAX_READV_OFFSETS,
    MAX_REQUEST_HEAD_BYTES,
    REFUSED_VERBS,
)
from helpers import basic, seed, store_of
from servers import tree_snapshot
from smartwire import request_v1, request_v2, request_v3, request_v3_stream

SMART = "/bzr/alpha/.bzr/smart"
ANONYMOUS_LIMIT = 64 * 1024
WORKER = basic("worker", "secret")


class CountingInput:
    """A wsgi.input that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._data.read(size)
        self.read_bytes += len(data)
        return data


class Answer:
    """What a WSGI call answered: status, headers, body, and how much of the input it read."""

    def __init__(self, app, path: str, body: bytes, headers: dict[str, str] | None = None,
                 chunked: bool = False, write=None, max_bytes: int | None = None) -> None:
        self.input = CountingInput(body)
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "localhost",
                   "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": self.input,
                   "wsgi.errors": io.StringIO(), "breezy.relpath": path}
        if chunked:
            environ["wsgi.input_terminated"] = True
        else:
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        if max_bytes is not None:  # the mounted app alone: bound its body as the dispatcher does
            environ["wsgi.input"] = RequestBody(environ, max_bytes)
        self.writes: list[bytes] = []

        def start_response(status, response_headers, exc_info=None):
            self.status, self.headers = status, dict(response_headers)
            return write or self.writes.append

        returned = b"".join(app(environ, start_response))
        self.body = b"".join(self.writes) + returned

    @property
    def code(self) -> int:
        return int(self.status.split()[0])


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"max_anonymous_body_bytes": ANONYMOUS_LIMIT}


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared app, seeded, with alpha's repository and a branch ``alpha/trunk`` in it."""
    seed(app)
    Answer(app, SMART, request_v3(b"hello"))  # makes the repository
    BzrDir.create_branch_convenience(str(store_of(app).storage.codebase_dir("alpha") / "trunk"),
                                     force_new_tree=False)
    return app


@pytest.fixture
def repo(app: Flask) -> Path:
    return store_of(app).settings.repos_dir / "alpha"


# --- the head: found in linear time, capped ------------------------------------------

@pytest.mark.parametrize("body", [
    b"x" * (MAX_REQUEST_HEAD_BYTES + 300_000),                           # protocol 1
    b"bzr request 2\n" + b"y" * (MAX_REQUEST_HEAD_BYTES + 300_000),      # protocol 2
    b"bzr message 3 (bzr 1.6)\n\xff\xff\xff\xff" + b"z" * MAX_REQUEST_HEAD_BYTES,
])
def test_head_over_the_cap_is_400_without_reading_on(app, body: bytes):
    answer = Answer(app, SMART, body, WORKER)
    assert answer.code == 400
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert b"head over" in answer.body
    assert answer.input.read_bytes <= MAX_REQUEST_HEAD_BYTES


def test_mounted_app_alone_caps_the_head_too(tmp_path: Path):
    app = make_smart_app(tmp_path, writable=False)
    answer = Answer(app, "", b"x" * (MAX_REQUEST_HEAD_BYTES + 300_000))
    assert answer.code == 400
    assert answer.input.read_bytes <= MAX_REQUEST_HEAD_BYTES + 128 * 1024


def test_protocol_one_body_without_its_length_line_is_cut_short(tmp_path: Path):
    # Breezy's protocol-1 body decoder rescans its buffer until the length line ends.
    app = make_smart_app(tmp_path, writable=False)
    body = request_v1(b"readv", b"x") + b"9" * (4 * MAX_PROTOCOL_TWO_REQUEST_BYTES)
    answer = Answer(app, "", body)
    assert answer.code == 400
    assert answer.input.read_bytes <= MAX_PROTOCOL_TWO_REQUEST_BYTES + 128 * 1024


# --- bodies: anonymous limit, buffered-verb limit, applied once ------------------------

def _parent_map(body_bytes: int) -> bytes:
    return request_v3(b"Repository.get_parent_map", b"", b"include-missing:",
                      body=b"ancestry-of\n" + b"r" * body_bytes)


@pytest.mark.parametrize("chunked", [False, True])
def test_anonymous_body_over_its_limit_is_413(app, chunked: bool):
    answer = Answer(app, SMART, _parent_map(ANONYMOUS_LIMIT + 1000), chunked=chunked)
    assert answer.code == 413
    assert answer.input.read_bytes <= ANONYMOUS_LIMIT + 1
    assert Answer(app, SMART, _parent_map(ANONYMOUS_LIMIT - 1000), chunked=chunked).code == 200


def test_worker_body_is_not_held_to_the_anonymous_limit(app):
    assert Answer(app, SMART, _parent_map(ANONYMOUS_LIMIT + 1000), WORKER).code == 200


def test_buffered_verb_body_is_capped_for_workers_too(app, repo: Path):
    body = request_v3(b"put", b"big", b"", body=b"p" * (MAX_BUFFERED_BODY_BYTES + 1))
    answer = Answer(app, SMART, body, WORKER)
    assert answer.code == 413
    assert not (repo / "big").exists()


def test_insert_stream_body_is_not_capped_as_a_buffered_one(app):
    chunks = iter([b"s" * (1 << 20)] * 5)
    body = request_v3_stream((b"Repository.insert_stream_1.19", b"", b"", b""), chunks)
    answer = Answer(app, SMART, body, WORKER)
    assert answer.code == 200  # Breezy refuses the stream itself, as a smart error
    assert answer.input.read_bytes == len(body)


def test_streamed_readv_of_tiny_offsets_stops_at_the_limit(app):
    """The issue's 200 MiB of "0,1" offsets, at a size a test can send."""
    chunks = (b"0,1\n" * 16384 for _ in range(2 * MAX_BUFFERED_BODY_BYTES // 65536))
    body = request_v3_stream((b"readv", b".bzr/branch-format"), chunks)
    answer = Answer(app, SMART, body, WORKER, chunked=True)
    assert answer.code == 413
    assert answer.input.read_bytes <= MAX_BUFFERED_BODY_BYTES + 1


# --- verbs refused or bounded ---------------------------------------------------------

@pytest.mark.parametrize("verb", sorted(REFUSED_VERBS))
def test_refused_verbs_answer_unknown_method(app, repo: Path, verb: bytes):
    before = tree_snapshot(repo)
    answer = Answer(app, SMART, request_v3(verb, b"", b"x", b"", b"", b"", b""))
    assert answer.code == 200
    assert b"UnknownMethod" in answer.body
    assert tree_snapshot(repo) == before


@pytest.mark.parametrize("encode", [request_v1, request_v2])
def test_protocol_one_and_two_serve_the_same_bounded_verbs(app, encode):
    for verb in REFUSED_VERBS:
        assert b"bad request" in Answer(app, SMART, encode(verb, b"", b"x")).body
    offsets = b"\n".join(b"0,1" for _ in range(MAX_READV_OFFSETS + 1))
    body = encode(b"readv", b".bzr/branch-format") + b"%d\n" % len(offsets) + offsets + b"done\n"
    assert b"readv of more than" in Answer(app, SMART, body, WORKER).body


def _sparse_file(repo: Path, size: int) -> None:
    with (repo / "sparse").open("wb") as fh:
        fh.truncate(size)


def test_readv_with_too_many_offsets_is_refused(app, repo: Path):
    _sparse_file(repo, 4 * MAX_READV_OFFSETS)
    offsets = b"\n".join(b"%d,1" % (2 * n) for n in range(MAX_READV_OFFSETS + 1))
    answer = Answer(app, SMART, request_v3(b"readv", b"sparse", body=offsets), WORKER)
    assert b"readv of more than" in answer.body


def test_readv_of_too_many_bytes_is_refused(app, repo: Path):
    _sparse_file(repo, MAX_READ_BYTES + 1024)
    half = MAX_READ_BYTES // 2 + 1
    answer = Answer(app, SMART, request_v3(b"readv", b"sparse", body=b"0,%d\n%d,%d" % (
        half, half, half)))
    assert b"readv of more than" in answer.body
    assert len(answer.body) < 1000


def test_get_of_a_large_file_is_refused_and_a_small_one_served(app, repo: Path):
    _sparse_file(repo, MAX_READ_BYTES + 1)
    answer = Answer(app, SMART, request_v3(b"get", b"sparse"))
    assert b"over" in answer.body and len(answer.body) < 1000
    assert b"Bazaar-NG meta directory" in Answer(
        app, SMART, request_v3(b"get", b".bzr/branch-format")).body


# --- every failure is a smart error, never a 500 --------------------------------------

@pytest.mark.parametrize("body", [
    b"\x93\n",
    b"bzr request 2\n\x93\x01\xff\n",
    request_v2(b"get", b".."),
    request_v2(b"Branch.heads_to_fetch", b"trunk/"),
    request_v2(b"BzrDir.cloning_metadir", b"", b"False"),
    request_v2(b"iter_files_recursive", b""),
    request_v1(b"iter_files_recursive", b""),
])
def test_breezy_failures_are_smart_errors(app, caplog, body: bytes):
    with caplog.at_level(logging.ERROR, logger="bzrstore"):
        answer = Answer(app, SMART, body)
    assert answer.code == 200
    assert answer.body.startswith((b"error\x01", b"bzr response 2\nfailed\n"))
    assert b"Traceback" not in answer.body
    assert any(SMART in record.getMessage() for record in caplog.records)


def test_failure_after_the_response_started_ends_the_body(tmp_path: Path, caplog):
    # get answers at its arguments (2 MiB, streamed); its stray body then passes the limit.
    (tmp_path / "big").write_bytes(b"b" * (2 << 20))
    app = make_smart_app(tmp_path, writable=False)
    with caplog.at_level(logging.WARNING, logger="bzrstore"):
        answer = Answer(app, "", request_v3(b"get", b"big", body=b"x" * (2 << 20)), chunked=True,
                        max_bytes=1 << 20)
    assert answer.code == 200
    assert b"b" * (1 << 20) in answer.body
    assert any("ended" in record.getMessage() for record in caplog.records)
