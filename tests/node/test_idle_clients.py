"""A client that stalls mid-request frees its worker within BZRSTORE_CLIENT_IDLE_SECONDS."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import WORKER, run_cli, starts_processes
from servers import Gunicorn, read_to_end
from smartwire import request_v3

IDLE_SECONDS = 2
# What a freed worker may take beyond the idle time to answer /health (a loaded CI box).
MARGIN_SECONDS = 3
WORKERS = 2
THREADS = 2  # of the gthread workers: stalls take every thread of every worker
BIG_FILE_BYTES = 16 * 1024 * 1024
SMART_PATH = "/bzr/alpha/.bzr/smart"
BIG_GET = request_v3(b"get", b"big.bin")


@pytest.fixture(params=["1", str(THREADS)], ids=["sync", "gthread"])
def threads(request: pytest.FixtureRequest) -> str:
    """GUNICORN_THREADS: sync workers, or gthread ones."""
    return request.param


@pytest.fixture
def idle_seconds() -> float:
    return IDLE_SECONDS


@pytest.fixture
@starts_processes
def server(threads: str, idle_seconds: float, tmp_path: Path) -> Iterator[Gunicorn]:
    """bzrstore whose clients may idle for a couple of seconds; sync or gthread workers."""
    data = tmp_path / "data"
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": "",
           "BZRSTORE_CLIENT_IDLE_SECONDS": str(idle_seconds),
           "GUNICORN_THREADS": threads}
    run_cli(env, "codebase", "add", "alpha")
    run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
    server = Gunicorn(env, tmp_path / "gunicorn.log", workers=WORKERS).start()
    # One read makes the codebase's repository; then a file too big for socket buffers.
    assert smart_call(server, request_v3(b"get", b"format")).startswith(b"bzr message 3")
    (data / "repos" / "alpha" / "big.bin").write_bytes(os.urandom(BIG_FILE_BYTES))
    yield server
    server.stop()


def smart_call(server: Gunicorn, body: bytes) -> bytes:
    """POST one smart request and return the reply body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", SMART_PATH, body=body)
        return conn.getresponse().read()
    finally:
        conn.close()


def connect(server: Gunicorn, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(data)
    return sock


def send_nothing(server: Gunicorn) -> socket.socket:
    return connect(server)


def half_the_headers(server: Gunicorn) -> socket.socket:
    return connect(server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")


def half_a_smart_body(server: Gunicorn) -> socket.socket:
    body = request_v3(b"get", b"format", body=b"x" * 4096)
    head = f"POST {SMART_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    return connect(server, head.encode() + body[: len(body) // 2])


def half_a_form_body(server: Gunicorn) -> socket.socket:
    token = base64.b64encode(":".join(WORKER).encode()).decode()
    body = b"url=http://example.com/" + b"x" * 200
    head = (f"POST /alpha/remotes/main HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return connect(server, head.encode() + body[:50])


def a_chunked_body_that_stops(server: Gunicorn) -> socket.socket:
    body = request_v3(b"get", b"format", body=b"x" * 4096)[:1000]
    head = f"POST {SMART_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    return connect(server, head.encode() + b"%x\r\n" % len(body) + body + b"\r\n")


def a_reader_that_stops(server: Gunicorn) -> socket.socket:
    """Ask for a file far larger than the socket buffers, read one byte, then nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(f"POST {SMART_PATH} HTTP/1.1\r\nHost: x\r\n"
                 f"Content-Length: {len(BIG_GET)}\r\n\r\n".encode() + BIG_GET)
    assert sock.recv(1)  # the response has started: the worker is writing it
    return sock


STALLS: dict[str, Callable[[Gunicorn], socket.socket]] = {
    "nothing": send_nothing, "half-headers": half_the_headers,
    "half-smart-body": half_a_smart_body, "half-form-body": half_a_form_body,
    "chunked": a_chunked_body_that_stops, "stops-reading": a_reader_that_stops,
}
# Stalls before any response byte is answered 408; a client that stops reading is cut.
ANSWERED_408 = {"nothing", "half-headers", "half-smart-body", "half-form-body", "chunked"}


def health_seconds(server: Gunicorn) -> float:
    """Time to get /health's 200, waiting no longer than the idle time and the margin."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=IDLE_SECONDS + MARGIN_SECONDS)
    try:
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    return time.monotonic() - started


def drain(sock: socket.socket) -> bytes:
    """What the server sent the stalled client before closing (for a small reply)."""
    sock.settimeout(IDLE_SECONDS + MARGIN_SECONDS)
    return read_to_end(sock)


def wait_for_drops(server: Gunicorn, count: int) -> bool:
    """Whether ``count`` stalls are logged as dropped within the idle time and the margin."""
    deadline = time.monotonic() + IDLE_SECONDS + MARGIN_SECONDS
    while time.monotonic() < deadline:
        if server.log_path.read_text().count(f"for {IDLE_SECONDS:g} s: dropped") >= count:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("stall", STALLS)
def test_stalled_clients_free_every_worker(server: Gunicorn, stall: str, threads: str):
    sockets = [STALLS[stall](server) for _ in range(WORKERS * int(threads))]
    try:
        assert health_seconds(server) < IDLE_SECONDS + MARGIN_SECONDS
        # Reading would un-stall a client that stopped reading: only the others are drained.
        replies = [drain(sock) for sock in sockets] if stall != "stops-reading" else []
        assert wait_for_drops(server, len(sockets))
    finally:
        for sock in sockets:
            sock.close()
    if stall == "nothing" and int(threads) > 1:
        # gthread parks a silent connection in its poller (no thread is taken); it is
        # closed without a word once idle, so it does not count against worker_connections.
        assert replies == [b""] * len(sockets)
    elif stall in ANSWERED_408:
        assert all(reply.startswith(b"HTTP/1.1 408 ") for reply in replies)
    assert "Traceback" not in server.log_path.read_text()


def test_a_slow_client_that_keeps_moving_is_served(server: Gunicorn):
    """Each wait is bounded, not the whole: a request and a reply each longer than the idle time."""
    request = (f"POST {SMART_PATH} HTTP/1.1\r\nHost: x\r\n"
               f"Content-Length: {len(BIG_GET)}\r\n\r\n").encode() + BIG_GET
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    started = time.monotonic()
    for start in range(0, len(request), 16):
        sock.sendall(request[start:start + 16])
        time.sleep(IDLE_SECONDS / 4)
    assert time.monotonic() - started > IDLE_SECONDS
    received, started = 0, time.monotonic()
    while chunk := sock.recv(BIG_FILE_BYTES):
        received += len(chunk)
        time.sleep(IDLE_SECONDS / 5)  # at most ~2 MiB (the buffer) per wait
    sock.close()
    assert time.monotonic() - started > IDLE_SECONDS
    assert received > BIG_FILE_BYTES
    assert "dropped" not in server.log_path.read_text()


@pytest.mark.parametrize("idle_seconds", [15])
def test_a_connection_accepted_before_a_reload_is_served(server: Gunicorn):
    """A reload stops old workers; what they accepted but had not read yet is still served.

    gthread closed such a connection with its poller: brz, whose next request of a push
    had just connected, failed the push.
    """
    old = set(server.worker_pids())
    socks = [connect(server) for _ in range(WORKERS)]  # accepted, nothing sent yet
    time.sleep(0.3)
    os.kill(server.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while not set(server.worker_pids()) - old:
        assert time.monotonic() < deadline, "gunicorn did not reload"
        time.sleep(0.05)
    time.sleep(2)  # the old workers were told to stop, and have polled once since
    body = request_v3(b"get", b"format")
    head = (f"POST {SMART_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    for sock in socks:
        sock.settimeout(10)
        sock.sendall(head + body)
        reply = read_to_end(sock)
        sock.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b"bzr message 3" in reply
