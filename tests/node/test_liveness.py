"""gunicorn's timeout reaps a stuck worker, not a long request whose bytes keep moving."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bzrstore.node.liveness import ThreadProgress
from helpers import run_cli, starts_processes
from servers import Gunicorn
from smartwire import request_v3

TIMEOUT_SECONDS = 2
PIECE_BYTES = 64 * 1024
PIECES = 24


@pytest.fixture
def idle_seconds() -> float:
    """The client idle time: by default far above the worker timeout, so the latter acts."""
    return 30 * TIMEOUT_SECONDS


@pytest.fixture(params=["1", "4"], ids=["sync", "threads"])
@starts_processes
def server(request: pytest.FixtureRequest, tmp_path: Path,
           idle_seconds: float) -> Iterator[Gunicorn]:
    """One worker (sync, or 4 threads as shipped) whose timeout is a couple of seconds."""
    data = tmp_path / "data"
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": "",
           "GUNICORN_TIMEOUT": str(TIMEOUT_SECONDS), "GUNICORN_THREADS": request.param,
           "BZRSTORE_CLIENT_IDLE_SECONDS": str(idle_seconds)}
    run_cli(env, "codebase", "add", "alpha")
    server = Gunicorn(env, tmp_path / "gunicorn.log", workers=1).start()
    yield server
    server.stop()


def dribble(server: Gunicorn, pause_at: int, pause_seconds: float) -> bytes:
    """POST a smart request in pieces 0.25 s apart but one pause; the reply, or b"" if cut."""
    body = request_v3(b"get", b"branch.conf", body=b"x" * (PIECES * PIECE_BYTES))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/bzr/alpha/.bzr/smart")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    try:
        for n, start in enumerate(range(0, len(body), PIECE_BYTES)):
            time.sleep(pause_seconds if n == pause_at else 0.25)
            conn.send(body[start:start + PIECE_BYTES])
        return conn.getresponse().read()
    except (http.client.HTTPException, ConnectionError):
        return b""
    finally:
        conn.close()


def test_a_request_that_keeps_moving_outlives_the_timeout(server: Gunicorn):
    started = time.monotonic()
    reply = dribble(server, pause_at=-1, pause_seconds=0)
    assert time.monotonic() - started > 2 * TIMEOUT_SECONDS
    assert reply.startswith(b"bzr message 3")
    assert b"WORKER TIMEOUT" not in server.log_path.read_bytes()


def test_a_worker_that_moves_nothing_is_reaped(server: Gunicorn):
    reply = dribble(server, pause_at=4, pause_seconds=3 * TIMEOUT_SECONDS)
    assert reply == b""
    assert b"WORKER TIMEOUT" in server.log_path.read_bytes()


@pytest.mark.parametrize("idle_seconds", [TIMEOUT_SECONDS / 2])
def test_a_stalled_client_is_dropped_before_its_worker_is_reaped(server: Gunicorn):
    """A client idle time below the worker timeout frees the worker with a 408, no kill."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/bzr/alpha/.bzr/smart")
    conn.putheader("Content-Length", "1000")
    conn.endheaders()
    conn.send(request_v3(b"get", b"branch.conf", body=b"x" * 2000)[:500])
    assert conn.getresponse().status == 408
    assert time.monotonic() - started < TIMEOUT_SECONDS
    conn.close()
    assert b"WORKER TIMEOUT" not in server.log_path.read_bytes()


def test_thread_progress_is_the_stillest_request_in_flight():
    now = [100.0]
    progress = ThreadProgress(clock=lambda: now[0])
    assert progress.still_for() == 0.0
    progress.begin()
    now[0] += 5
    assert progress.still_for() == 5.0
    progress.touch()
    assert progress.still_for() == 0.0
    other = threading.Thread(target=progress.begin)
    other.start()
    other.join()  # a request begun on another thread, never touched since
    now[0] += 3
    progress.touch()
    assert progress.still_for() == 3.0
    progress.end()
    assert progress.still_for() == 3.0
