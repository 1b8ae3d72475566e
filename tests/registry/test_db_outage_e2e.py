"""A PostgreSQL outage under real brz traffic: clear 503s while down, every worker heals after."""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import pytest

from helpers import POSTGRES_URL_ENV, WORKER, as_worker, run_cli
from postgres import postgres_schema, url_through
from servers import BIN, ROOT, Brz, Gunicorn
from smartwire import request_v3
from tcpproxy import TcpProxy

WORKERS = 3
# The database stays away this long while every worker keeps asking: longer than
# psycopg_pool's first reconnection back-off steps (1 + 2 + 4 + 8 s), so a pool left
# to back off would sleep well past the return.
OUTAGE_SECONDS = 20.0
# The bound: every worker serves again this soon after the database returns.
RECOVERY_SECONDS = 10.0
# Requests in flight at once, so that every sync worker gets some.
PARALLEL_REQUESTS = 2 * WORKERS
# The access log line names the worker that served it.
ACCESS_FORMAT = '%(p)s %(s)s "%(r)s" %(M)sms'
SMART_LINE = re.compile(r'^<(\d+)> (\d{3}) "POST /bzr/alpha/\.bzr/smart ', re.M)


@pytest.fixture
def outage_store(tmp_path: Path):
    """bzrstore on PostgreSQL reached through a proxy the test can cut; no registry caching."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL tests skipped")
    with postgres_schema(url) as direct_url:
        parts = urllib.parse.urlsplit(direct_url)
        proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)).start()
        proxied = url_through(direct_url, proxy.port)
        data = tmp_path / "data"
        env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": proxied,
               "BZRSTORE_CODEBASE_CACHE_SECONDS": "0", "BZRSTORE_AUTH_CACHE_SECONDS": "0",
               "GUNICORN_ACCESSLOG": str(tmp_path / "access.log")}
        run_cli(env, "db", "upgrade")
        run_cli(env, "codebase", "add", "alpha")
        run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
        command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                   "--bind", "127.0.0.1:0", "--workers", str(WORKERS),
                   "--access-logformat", ACCESS_FORMAT]
        server = Gunicorn(env, tmp_path / "gunicorn.log", command=command).start()
        try:
            yield server, proxy, tmp_path / "access.log"
        finally:
            server.stop()
            proxy.stop()


def _hello(server: Gunicorn) -> tuple[int, str, str]:
    """One anonymous smart request: status, content type and body."""
    request = urllib.request.Request(server.url + "/bzr/alpha/.bzr/smart",
                                     data=request_v3(b"hello"), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _served_by(log: Path, offset: int) -> dict[int, set[int]]:
    """Statuses of smart requests per worker pid, from the access log after ``offset``."""
    seen: dict[int, set[int]] = {}
    for pid, status in SMART_LINE.findall(log.read_bytes()[offset:].decode()):
        seen.setdefault(int(pid), set()).add(int(status))
    return seen


def _until_every_worker_serves(server: Gunicorn, pool: ThreadPoolExecutor,
                               log: Path) -> dict[int, float]:
    """Keep requests in flight until each worker has answered one 200: seconds per pid."""
    start, offset = time.monotonic(), log.stat().st_size
    healed: dict[int, float] = {}
    pending = {pool.submit(_hello, server) for _ in range(PARALLEL_REQUESTS)}
    deadline = start + 3 * RECOVERY_SECONDS
    while not set(server.worker_pids()) <= set(healed) and time.monotonic() < deadline:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for pid, statuses in _served_by(log, offset).items():
            if 200 in statuses:
                healed.setdefault(pid, time.monotonic() - start)
        pending |= {pool.submit(_hello, server) for _ in done}
    wait(pending)
    return healed


def test_every_worker_recovers_after_a_database_outage(outage_store, brz: Brz, tmp_path: Path):
    server, proxy, access_log = outage_store
    url = as_worker(server.url + "/bzr/alpha/c/main")
    source = tmp_path / "src"
    brz.make_branch(source, revisions=2)
    brz.run("push", url, cwd=source)

    proxy.cut()
    cut_at = access_log.stat().st_size
    failed = brz.run("push", as_worker(server.url + "/bzr/alpha/c/other"), cwd=source,
                     check=False)
    assert failed.returncode != 0 and "503" in failed.stderr, failed.stderr
    deadline = time.monotonic() + OUTAGE_SECONDS
    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        while time.monotonic() < deadline:
            for status, content_type, body in pool.map(
                    lambda _: _hello(server), range(PARALLEL_REQUESTS)):
                assert (status, body) == (503, "registry unavailable\n")
                assert content_type.startswith("text/plain")
        during = _served_by(access_log, cut_at)
        assert len(during) >= WORKERS, "every worker saw the outage"

        proxy.restore()
        healed = _until_every_worker_serves(server, pool, access_log)
    print(f"seconds from the database's return to each worker's first 200: {healed}")
    workers = server.worker_pids()  # a worker gunicorn replaced meanwhile starts healthy
    assert set(workers) <= set(healed)
    assert max(healed[pid] for pid in workers) < RECOVERY_SECONDS

    brz.make_branch(source, revisions=1, start=2)
    brz.run("push", url, cwd=source)
    brz.run("branch", server.url + "/bzr/alpha/c/main", tmp_path / "clone")
    assert brz.revision_ids(tmp_path / "clone") == brz.revision_ids(source)
