"""The page budget under real gunicorn: one budget per client, whichever worker answers."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from helpers import run_cli
from servers import BIN, TEST_GUNICORN_CONF, Gunicorn

UNITS = 4
ROUNDS = 6
PAGE = "/bzr/alpha/main/-/annotate/README"


def status_of(url: str) -> int:
    """The status of a GET on a fresh connection (so any worker may take it)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def round_on_both_workers(url: str) -> list[int]:
    """Two requests that two sync workers must answer, one each: the statuses, in order.

    The first request's head is left unfinished, so the worker that took it waits on it;
    the second, meanwhile, can only be taken by the other worker.
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as held:
        held.sendall(f"GET {PAGE} HTTP/1.1\r\nHost: {host}\r\n".encode())
        second = status_of(url + PAGE)
        held.sendall(b"Connection: close\r\n\r\n")
        first = int(held.makefile("rb").readline().split()[1])
    return [second, first]


def test_workers_share_one_budget(tmp_path: Path):
    data, log = tmp_path / "data", tmp_path / "access.log"
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": "",
           "BZRSTORE_PAGE_BUDGET": str(UNITS), "GUNICORN_ACCESSLOG": str(log),
           "GUNICORN_THREADS": "1"}  # sync workers: one request each at a time
    run_cli(env, "codebase", "add", "alpha")
    # The access log names the worker (pid) that answered each request.
    command = [str(BIN / "gunicorn"), "-c", str(TEST_GUNICORN_CONF), "--bind", "127.0.0.1:0",
               "--workers", "2", "--access-logformat", "%(p)s %(U)s"]
    server = Gunicorn(env, tmp_path / "gunicorn.log", command=command).start()
    try:
        statuses = [status for _ in range(ROUNDS) for status in round_on_both_workers(server.url)]
        assert status_of(server.url + "/bzr/alpha/main/-/files") != 429  # cheap: not counted
    finally:
        server.stop()
    # The branch does not exist: a 404, but the page was asked for and is counted.
    assert statuses == [404] * UNITS + [429] * (2 * ROUNDS - UNITS)
    answered = Counter(line.split()[0] for line in log.read_text().splitlines()
                       if line.split()[1] == PAGE)
    # Each worker answered half: with a budget per process, 2 x 4 would have been served.
    assert sorted(answered.values()) == [ROUNDS, ROUNDS], answered
    assert (data / "run" / "page-budget.sqlite3").is_file()
