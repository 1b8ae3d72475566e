"""Diffs within their budget: stopped at the time limit, on hang-up, big files as binary."""

from __future__ import annotations

import gc
import os
import random
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from breezy.bzr.groupcompress import GroupCompressVersionedFiles
from breezy.controldir import ControlDir
from webtest import TestApp
from werkzeug.test import EnvironBuilder

from bzrstore import create_app
from bzrstore.config import load_settings
from helpers import make_app, store_of
from servers import Gunicorn

COMMITTER = "Test Worker <worker@example.com>"
# Files the matcher needs a few tenths of a second each for: together well over 1 s.
SLOW_FILES = 8
SLOW_FILE_LINES = 150_000
# Far over the line limit: Breezy alone spends seconds and hundreds of MiB on it.
HUGE_LINES = 1_000_000
# After the response ends, how long the diff thread may take to notice and go.
THREAD_GONE_SECONDS = 1.0


@dataclass
class Heavy:
    """A data directory whose codebase ``heavy`` has one costly change, ``old`` to ``new``."""

    data: Path
    old: str
    new: str


def shuffled_lines(count: int, seed: int) -> tuple[bytes, bytes]:
    """Unique short lines, then the same lines shuffled: the matcher's worst case."""
    lines = [b"%x\n" % n for n in range(count)]
    old = b"".join(lines)
    random.Random(seed).shuffle(lines)
    return old, b"".join(lines)


@pytest.fixture(scope="module")
def heavy(tmp_path_factory: pytest.TempPathFactory) -> Heavy:
    """Codebase ``heavy``: a huge file and several slow ones, all rewritten in one commit."""
    root = tmp_path_factory.mktemp("heavy")
    app = make_app(root / "data")
    store = store_of(app)
    store.registry.add_codebase("heavy")
    repo_dir = store.storage.ensure_repository("heavy")
    work = root / "work"
    tree = ControlDir.create_standalone_workingtree(str(work))
    versions = {"a-huge.txt": shuffled_lines(HUGE_LINES, 0)}
    versions.update({f"f{n:02d}.txt": shuffled_lines(SLOW_FILE_LINES, n + 1)
                     for n in range(SLOW_FILES)})
    for name, (old, _) in versions.items():
        (work / name).write_bytes(old)
    tree.add(list(versions))
    old_revid = tree.commit("old", committer=COMMITTER)
    for name, (_, new) in versions.items():
        (work / name).write_bytes(new)
    new_revid = tree.commit("new", committer=COMMITTER)
    (repo_dir / "c").mkdir()
    tree.branch.controldir.sprout(str(repo_dir / "c" / "main"), create_tree_if_local=False)
    return Heavy(root / "data", old_revid.decode(), new_revid.decode())


def diff_threads() -> list[threading.Thread]:
    """The diff threads alive in this process."""
    return [t for t in threading.enumerate() if t.name == "bzrstore-diff" and t.is_alive()]


def wait_threads_gone(seconds: float) -> list[threading.Thread]:
    """Diff threads still alive after waiting up to ``seconds`` for them to end."""
    deadline = time.monotonic() + seconds
    while diff_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    return diff_threads()


def open_diff(heavy: Heavy, **settings):
    """The WSGI response iterator of the heavy diff, under ``settings``."""
    app = create_app(load_settings(environ={}, data=heavy.data, **settings))
    environ = EnvironBuilder(path="/heavy/diff",
                             query_string={"old": heavy.old, "new": heavy.new}).get_environ()
    status = []
    body = app(environ, lambda code, headers, exc_info=None: status.append(code))
    return status, body


def test_diff_stops_working_at_the_time_limit(heavy: Heavy):
    assert not diff_threads()
    start = time.monotonic()
    status, body = open_diff(heavy, diff_timeout_seconds=1.0)
    try:
        text = b"".join(body)
    finally:
        body.close()
    elapsed = time.monotonic() - start
    assert status == ["200 OK"]
    assert text.endswith(b"# bzrstore: diff stopped: took longer than 1 seconds\n")
    assert elapsed < 1.0 + 1.0
    assert not wait_threads_gone(THREAD_GONE_SECONDS)


def test_hang_up_mid_stream_stops_the_diff(heavy: Heavy):
    assert not diff_threads()
    status, body = open_diff(heavy)
    chunks = iter(body)
    assert next(chunks)
    cpu = time.process_time()
    start = time.monotonic()
    body.close()  # what gunicorn does when the client has gone away
    assert time.monotonic() - start < 1.0
    assert not diff_threads()
    time.sleep(0.3)
    assert time.process_time() - cpu < 0.2 + 0.3  # nothing left computing


def test_a_file_over_the_line_limit_is_shown_as_binary(heavy: Heavy):
    status, body = open_diff(heavy, diff_max_file_bytes=4 * 1024**2)
    chunks = iter(body)
    try:
        first = next(chunks)
    finally:
        body.close()
    assert first.startswith(b"=== modified file 'a-huge.txt'\n"
                            b"Binary files old/a-huge.txt and new/a-huge.txt differ\n"
                            b"=== modified file 'f00.txt'\n")


def cached_bytes(seen: set[int]) -> tuple[set[int], int]:
    """Ids of the live versioned-file stores, and the bytes cached by those not in ``seen``."""
    gc.collect()
    stores = [o for o in gc.get_objects() if isinstance(o, GroupCompressVersionedFiles)]
    return ({id(o) for o in stores},
            sum(o._group_cache._value_size for o in stores if id(o) not in seen))


@pytest.mark.parametrize("route", ["diff", "revision-info"])
def test_requests_leave_no_cached_blocks_behind(heavy: Heavy, route: str):
    """Breezy never frees an opened repository: its block caches must be emptied."""
    app = create_app(load_settings(environ={}, data=heavy.data))
    before, _ = cached_bytes(set())
    response = TestApp(app).get(f"/heavy/{route}", params={"old": heavy.old, "new": heavy.new})
    assert response.status_int == 200
    assert wait_threads_gone(THREAD_GONE_SECONDS) == []
    assert cached_bytes(before)[1] == 0


@pytest.mark.e2e  # a real gunicorn
def test_a_gunicorn_worker_keeps_no_diff_running(heavy: Heavy, tmp_path: Path):
    """The issue's reproduction: after a timed-out diff and a hang-up, the worker is idle."""
    env = {**os.environ, "BZRSTORE_DATA": str(heavy.data), "BZRSTORE_DATABASE_URL": "",
           "BZRSTORE_DIFF_TIMEOUT_SECONDS": "1"}
    server = Gunicorn(env, tmp_path / "gunicorn.log", workers=1).start()
    try:
        worker = psutil.Process(server.worker_pids()[0])
        # A first request starts the gthread worker's pool thread; count after it.
        urllib.request.urlopen(f"{server.url}/health", timeout=30).read()
        threads = worker.num_threads()
        for hang_up in (False, True):
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(f"GET /heavy/diff?old={heavy.old}&new={heavy.new} HTTP/1.1\r\n"
                             "Host: x\r\nConnection: close\r\n\r\n".encode())
                while sock.recv(65536) and not hang_up:  # hang up after the first read
                    pass
            if not hang_up:
                assert time.monotonic() - start < 1.0 + 1.0
            # The worker shares the cores with the test run: give its diff thread a few
            # seconds to notice and go, then it must be gone and the worker idle.
            deadline = time.monotonic() + 5 * THREAD_GONE_SECONDS
            while worker.num_threads() != threads and time.monotonic() < deadline:
                time.sleep(0.1)
            assert worker.num_threads() == threads
            cpu = sum(worker.cpu_times()[:2])
            time.sleep(0.5)
            assert sum(worker.cpu_times()[:2]) - cpu < 0.05
    finally:
        server.stop()
