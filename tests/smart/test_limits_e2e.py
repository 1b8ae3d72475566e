"""The smart bounds under a real gunicorn, with the real brz client."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import pytest

from bzrstore.smart.verbs import REFUSED_VERBS
from servers import Brz, read_to_end
from smartwire import request_v1, request_v2, request_v3, request_v3_stream

MIB = 1024 * 1024
# The budget for one request that is not a clone, pull or push.
MAX_WORKER_GROWTH_BYTES = 128 * MIB
MAX_SECONDS = 10


def _post(url: str, body: bytes) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_brz_works_without_the_refused_verbs(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=3)
    brz.run("push", "-d", work, store.writer_url("alpha/refused/main"))
    url = store.reader_url("alpha/refused/main")
    smart = url + "/.bzr/smart"
    for verb in REFUSED_VERBS:
        status, _, body = _post(smart, request_v3(verb, b"", b"x", b"", b"", b"", b""))
        assert status == 200 and b"UnknownMethod" in body

    clone = tmp_path / "clone"
    brz.run("branch", url, clone)
    assert brz.revision_ids(clone) == brz.revision_ids(work)
    # export and annotate fall back to work done by the client.
    brz.run("export", tmp_path / "export.tar", url)
    assert (tmp_path / "export.tar").stat().st_size > 0
    annotated = brz.run("annotate", url + "/dir/file.txt").stdout
    assert annotated.count("line 2") == 3


@pytest.mark.parametrize("body", [
    b"\x93\n",
    b"bzr request 2\n\x93\xfe\x01\x00garbage",
    request_v2(b"get", b".."),
    request_v2(b"BzrDir.cloning_metadir", b"", b"False"),
    request_v2(b"iter_files_recursive", b""),
    request_v1(b"iter_files_recursive", b""),
])
def test_failures_are_smart_errors_not_gunicorn_500(store, body: bytes):
    status, content_type, answer = _post(store.url + "/bzr/alpha/.bzr/smart", body)
    assert status == 200
    assert content_type == "application/octet-stream"
    assert answer.startswith((b"error\x01", b"bzr response 2\nfailed\n"))
    assert b"<html" not in answer.lower()


def _peak_rss(pid: int) -> int:
    """A process's highest resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _send_chunked(port: int, pieces: Iterable[bytes]) -> bytes:
    """POST ``pieces`` chunked until the server stops reading; return its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /bzr/alpha/.bzr/smart HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for piece in pieces:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the body ended
        return read_to_end(sock)


def _readv_of_tiny_offsets(size: int) -> Iterable[bytes]:
    """The issue's chunked v3 readv whose body is nothing but "0,1" offsets."""
    yield request_v3_stream((b"readv", b".bzr/branch-format"), iter([]))[:-1]  # no end yet
    part = b"b" + (64 * 1024).to_bytes(4, "big") + b"0,1\n" * 16384
    for _ in range(size // (64 * 1024)):
        yield part


@pytest.mark.parametrize("attack, status", [
    (lambda: _readv_of_tiny_offsets(64 * MIB), b"413"),
    (lambda: (b"x" * 65536 for _ in range(512)), b"400"),  # 32 MiB without a newline
], ids=["readv-of-tiny-offsets", "no-newline"])
def test_hostile_bodies_stay_in_the_budget(store, attack, status: bytes):
    workers = store.server.worker_pids()
    before = [_peak_rss(pid) for pid in workers]
    started = time.monotonic()
    answer = _send_chunked(store.server.port, attack())
    assert answer.split(b" ", 2)[1] == status
    assert time.monotonic() - started < MAX_SECONDS
    growth = max(_peak_rss(pid) - peak for pid, peak in zip(workers, before, strict=True))
    assert growth < MAX_WORKER_GROWTH_BYTES
