"""The internal listener under real gunicorn: anonymous writes there, never on the public one."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bzrstore.node.listeners import INTERNAL_WRITER
from helpers import E2E_CODEBASES, WORKER, run_cli, starts_processes
from nginx import free_port
from servers import BIN, TEST_GUNICORN_CONF, Brz, Gunicorn, tree_snapshot
from smartwire import request_v3

MKDIR = request_v3(b"mkdir", b"forged", b"")


class Server:
    """gunicorn with a public and an internal listener."""

    def __init__(self, server: Gunicorn, internal_port: int, data: Path) -> None:
        self.process = server
        self.public = server.url
        self.internal = f"http://127.0.0.1:{internal_port}"
        self.internal_port = internal_port
        self.repos = data / "repos"


@pytest.fixture(scope="module", params=["gthread", "sync"])
@starts_processes
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("internal") / "data"
    internal_port = free_port()
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": "",
           "BZRSTORE_INTERNAL_BIND": f"127.0.0.1:{internal_port}",
           # The proxy is trusted: what it forwards is applied, and still gives no trust.
           "BZRSTORE_TRUSTED_PROXIES": "127.0.0.1",
           "GUNICORN_THREADS": "4" if request.param == "gthread" else "1"}
    run_cli(env, "codebase", "add", *E2E_CODEBASES)
    run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
    # --bind on the command line: the internal listener is added whatever it says.
    command = [str(BIN / "gunicorn"), "-c", str(TEST_GUNICORN_CONF),
               "--bind", "127.0.0.1:0", "--workers", "2"]
    gunicorn = Gunicorn(env, data.parent / "gunicorn.log", command=command).start()
    try:
        yield Server(gunicorn, internal_port, data)
    finally:
        gunicorn.stop()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def pushes(server: Server) -> list[dict]:
    with urllib.request.urlopen(server.public + "/api/pushes?codebase=alpha") as response:
        return json.load(response)


@pytest.mark.parametrize("form", ["bzr+http://127.0.0.1:{port}/alpha/{branch}",
                                  "http://127.0.0.1:{port}/bzr/alpha/{branch}"])
def test_anonymous_push_to_the_internal_port(server: Server, brz: Brz, tmp_path: Path, form):
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=2)
    branch = f"lintian-fixes/{'main' if form.startswith('bzr') else 'upstream'}"
    brz.run("push", "-d", work, form.format(port=server.internal_port, branch=branch))
    # Read back from the public port, anonymously.
    assert brz.revision_ids(f"{server.public}/bzr/alpha/{branch}") == revisions
    logged = [push for push in pushes(server) if push["path"] == branch]
    assert logged and logged[0]["worker"] == INTERNAL_WRITER


@pytest.mark.parametrize("form", ["bzr+http://127.0.0.1:{port}/alpha/anon/main",
                                  "http://127.0.0.1:{port}/bzr/alpha/anon/main"])
def test_anonymous_push_to_the_public_port_fails(server: Server, brz: Brz, tmp_path: Path,
                                                 form):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    before = tree_snapshot(server.repos)
    port = int(server.public.rpartition(":")[2])
    result = brz.run("push", "-d", work, form.format(port=port), check=False)
    assert result.returncode != 0
    assert "401" in result.stderr or "uthentication" in result.stderr or \
        "credentials" in result.stderr
    assert tree_snapshot(server.repos) == before


@pytest.mark.parametrize("path", ["/alpha/.bzr/smart", "/bzr/alpha/.bzr/smart"])
@pytest.mark.parametrize("headers", [
    {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Port": "{port}",
     "X-Forwarded-Host": "127.0.0.1:{port}", "X-Forwarded-Proto": "http"},
    {"X-Forwarded-Port": "{port}"},
    {"Forwarded": "for=127.0.0.1;host=127.0.0.1:{port};proto=http"},
    {"Host": "127.0.0.1:{port}"},
    {"Host": "127.0.0.1:{port}", "X-Forwarded-Host": "127.0.0.1:{port}",
     "Bzrstore-Listener": "internal"},
])
def test_no_header_or_path_gives_the_public_port_internal_trust(server: Server, path, headers):
    before = tree_snapshot(server.repos)
    forged = {name: value.format(port=server.internal_port) for name, value in headers.items()}
    assert post(server.public + path, MKDIR, forged) == 401
    assert tree_snapshot(server.repos) == before
    # The same request on the internal port writes: the request itself was fine.
    assert post(server.internal + path, request_v3(b"hello"), {}) == 200


def test_internal_listener_survives_a_reload(server: Server):
    """``kill -HUP`` reads the config again: the internal listener must stay (and stay internal)."""
    gunicorn = server.process
    os.kill(gunicorn.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while "Hang up" not in gunicorn.log_path.read_text() or \
            gunicorn.log_path.read_text().count("Booting worker") < 4:
        assert time.monotonic() < deadline, gunicorn.log_path.read_text()
        time.sleep(0.1)
    # The binds compared equal after the reload: no listener was closed and reopened.
    assert gunicorn.log_path.read_text().count("Listening at:") == 1
    assert post(server.internal + "/alpha/.bzr/smart", MKDIR, {}) == 200
    assert (server.repos / "alpha" / "forged").is_dir()
    os.rmdir(server.repos / "alpha" / "forged")
    assert post(server.public + "/alpha/.bzr/smart", MKDIR, {}) == 401
