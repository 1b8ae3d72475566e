"""Under a real gunicorn: the failed-login limit is one for all workers; no forwarded
header is believed from an untrusted peer."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import basic, run_cli
from servers import Gunicorn

WORKERS = 4
MAX_FAILURES = WORKERS  # one failure per worker: a per-process count would never refuse


def start(tmp_path: Path, **env: str) -> Gunicorn:
    data = tmp_path / "data"
    inherited = {key: value for key, value in os.environ.items()
                 if key not in ("BZRSTORE_TRUSTED_PROXIES", "BZRSTORE_PUBLIC_URL")}
    full_env = {**inherited, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": "",
                "GUNICORN_ACCESSLOG": str(tmp_path / "access.log"), **env}
    run_cli(full_env, "codebase", "add", "alpha")
    run_cli(full_env, "worker", "add", "--admin", "boss", stdin="secret\n")
    return Gunicorn(full_env, tmp_path / "gunicorn.log", workers=WORKERS).start()


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Gunicorn]:
    server = start(tmp_path, BZRSTORE_AUTH_MAX_FAILURES=str(MAX_FAILURES),
                   BZRSTORE_AUTH_FAILURE_WINDOW_SECONDS="300")
    yield server
    server.stop()


def status(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_failed_login_limit_is_shared_by_the_workers(limited: Gunicorn):
    # Concurrent wrong passwords, each held a bcrypt's time: they land on different
    # workers, so only a count shared between processes reaches the limit.
    with ThreadPoolExecutor(MAX_FAILURES) as pool:
        first = list(pool.map(lambda i: status(limited.url + "/admin/",
                                               basic("boss", f"wrong{i}"))[0],
                              range(MAX_FAILURES)))
    assert first == [401] * MAX_FAILURES
    for _ in range(2 * WORKERS):
        code, headers = status(limited.url + "/admin/", basic("boss", "secret"))
        assert code == 429
        assert 0 < int(headers["Retry-After"]) <= 300
    # Routes that need no login are not counted nor refused.
    assert status(limited.url + "/health", {})[0] == 200


@pytest.mark.parametrize(("trusted", "scheme"), [(None, "http"), ("127.0.0.1", "https")])
def test_forwarded_proto_is_believed_only_from_trusted_proxies(tmp_path: Path,
                                                              trusted: str | None, scheme: str):
    # Old gunicorn.conf.py: gunicorn itself believed X-Forwarded-Proto from 127.0.0.1.
    env = {} if trusted is None else {"BZRSTORE_TRUSTED_PROXIES": trusted}
    server = start(tmp_path, **env)
    try:
        request = urllib.request.Request(server.url + "/bzr/alpha/", headers={
            "Accept": "text/html", "X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on",
            "X-Forwarded-Protocol": "ssl"})
        with urllib.request.urlopen(request, timeout=30) as response:
            page = response.read().decode()
    finally:
        server.stop()
    assert f"brz branch {scheme}://127.0.0.1:{server.port}/bzr/alpha/" in page
