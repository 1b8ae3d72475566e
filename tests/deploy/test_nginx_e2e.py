"""The shipped nginx site (deploy/nginx/) in front of gunicorn, with the real brz client."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from bzrstore.node.ring import Ring
from helpers import WORKER, as_worker, run_cli
from nginx import (
    CLUSTER_SITE,
    MB,
    NGINX,
    TEST_CERT,
    Nginx,
    RssSampler,
    make_large_branch,
    tls_context,
    trusting_brz,
)
from servers import Brz, Gunicorn

LARGE_REPOSITORY_BYTES = 200 * MB
# A worker grows by a fixed amount, not by the size of what it streams: ~98 MB on
# this push and ~65 MB on this clone (benchmarks/bench_nginx.py, with or without
# nginx), ~80 MB on the README's 466 MB push. A worker (or nginx's buffering, were it
# to hand the stream over whole) holding the 200 MB would exceed 200 MB.
RSS_GROWTH_MAX_BYTES = 150 * MB
# Another loopback address for "a client that is not the server itself" (Linux
# routes all of 127.0.0.0/8 to lo, so a socket can bind it without set-up).
OUTSIDE_ADDRESS = "127.0.0.2"


@dataclass
class ProxiedStore:
    """gunicorn serving bzrstore and nginx in front of it on the shipped config."""

    gunicorn: Gunicorn
    nginx: Nginx
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.nginx.url

    def writer_url(self, path: str) -> str:
        """URL of ``/bzr/<path>`` through nginx with the worker's credentials in it."""
        return as_worker(f"{self.url}/bzr/{path}")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedStore]:
    """bzrstore (SQLite registry) under gunicorn, behind nginx running deploy/nginx/."""
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is not installed (.ci/run installs it)")
    root = tmp_path_factory.mktemp("nginx-store")
    env = {**os.environ, "BZRSTORE_DATA": str(root / "data"), "BZRSTORE_DATABASE_URL": "",
           "BZRSTORE_TRUSTED_PROXIES": "127.0.0.1",
           "GUNICORN_ACCESSLOG": str(root / "access.log")}
    run_cli(env, "codebase", "add", "alpha", "large")
    run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
    with ExitStack() as stack:
        gunicorn = Gunicorn(env, root / "gunicorn.log").start()
        stack.callback(gunicorn.stop)
        nginx = Nginx(root / "nginx", [f"127.0.0.1:{gunicorn.port}"]).start()
        stack.callback(nginx.stop)
        yield ProxiedStore(gunicorn, nginx, env)


@pytest.fixture
def brz(tmp_path: Path) -> Brz:
    """The brz command line, trusting the test certificate nginx presents."""
    return trusting_brz(tmp_path / "home")


def request(url: str, headers: dict[str, str] | None = None,
            source: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` (nginx's TLS site) from ``source``; status, headers and body."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=30,
                                       context=tls_context(),
                                       source_address=(source, 0) if source else None)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                 headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.headers), body


def test_worker_push_then_anonymous_branch_and_pull(proxied, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=2)
    result = brz.run("push", "-d", work, proxied.writer_url("alpha/proxied/main"))
    assert "Created new branch" in result.stderr

    clone = tmp_path / "clone"
    brz.run("branch", f"{proxied.url}/bzr/alpha/proxied/main", clone)
    assert brz.revision_ids(clone) == revisions

    revisions = brz.make_branch(work, revisions=2, start=2)
    brz.run("push", "-d", work, proxied.writer_url("alpha/proxied/main"))
    # Janitor's internal URL form goes through the same smart location.
    result = brz.run("pull", "-d", clone, f"{proxied.url}/alpha/proxied/main")
    assert "Now on revision 4" in result.stdout
    assert brz.revision_ids(clone) == revisions


def test_anonymous_push_through_nginx_is_refused(proxied, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    result = brz.run("push", "-d", work, f"{proxied.url}/bzr/alpha/anon/main", check=False)
    assert result.returncode != 0
    assert "401" in result.stderr or "authentication" in result.stderr.lower()


def test_diff_through_nginx_is_what_gunicorn_serves(proxied, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=2)
    brz.run("push", "-d", work, proxied.writer_url("alpha/diff/main"))
    query = urllib.parse.urlencode({"old": revisions[0], "new": revisions[1]})
    with urllib.request.urlopen(f"{proxied.gunicorn.url}/alpha/diff?{query}") as response:
        direct = response.read()
    assert b"+++ " in direct
    if shutil.which("curl"):
        (tmp_path / "cert.pem").write_text(TEST_CERT)
        through = subprocess.run(
            ["curl", "-sSf", "--cacert", str(tmp_path / "cert.pem"),
             f"{proxied.url}/alpha/diff?{query}"],
            capture_output=True, check=True, timeout=60).stdout
    else:
        through = request(f"{proxied.url}/alpha/diff?{query}")[2]
    assert through == direct


def test_forwarded_headers_reach_the_app_and_client_ones_do_not(proxied, brz: Brz,
                                                                  tmp_path: Path):
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=2)
    brz.run("push", "-d", work, proxied.writer_url("alpha/links/main"))
    query = urllib.parse.urlencode({"old": revisions[0], "new": revisions[1]})
    status, _, body = request(f"{proxied.url}/alpha/revision-info?{query}",
                              headers={"X-Forwarded-Prefix": "/evil",
                                       "X-Forwarded-Host": "evil.example"})
    assert status == 200
    [entry] = json.loads(body)
    # The link is built from what nginx forwarded: its scheme, host and port.
    assert entry["link"].startswith(f"{proxied.url}/alpha/diff?")


def test_codebase_listing_as_json(proxied):
    status, headers, body = request(f"{proxied.url}/bzr/",
                                    headers={"Accept": "application/json"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == ["alpha", "large"]
    assert headers["X-Total-Count"] == "2"
    # Built from what nginx forwarded, like revision-info's links.
    assert headers["Link"].startswith(f'<{proxied.url}/bzr/?page=1>; rel="first"')
    assert request(f"{proxied.url}/repositories")[0] == 200


def test_metrics_and_admin_only_from_the_server_itself(proxied):
    assert request(f"{proxied.url}/metrics")[0] == 200
    assert request(f"{proxied.url}/admin/")[0] == 401  # reaches the app, which asks who
    for path in ("/metrics", "/admin/", "/admin/break-lock"):
        assert request(f"{proxied.url}{path}", source=OUTSIDE_ADDRESS)[0] == 403, path
    # Everything else is public.
    for path in ("/health", "/bzr/", "/openapi.json"):
        assert request(f"{proxied.url}{path}", source=OUTSIDE_ADDRESS)[0] == 200, path


def test_plain_http_redirects_to_https(proxied):
    conn = http.client.HTTPConnection("127.0.0.1", proxied.nginx.http_port, timeout=30)
    conn.request("GET", "/bzr/alpha/")
    response = conn.getresponse()
    assert response.status == 301
    assert response.headers["Location"] == "https://127.0.0.1/bzr/alpha/"
    conn.close()


def test_body_over_the_apps_limit_is_refused_by_nginx(proxied):
    head = (f"POST /bzr/alpha/.bzr/smart HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {1024**3 + 1}\r\nConnection: close\r\n\r\n").encode()
    raw = socket.create_connection(("127.0.0.1", proxied.nginx.https_port), timeout=30)
    with tls_context().wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_large_push_and_clone_stream_through_nginx(proxied, brz: Brz, tmp_path: Path):
    branch, clone = tmp_path / "large", tmp_path / "clone"
    repository = Path(proxied.env["BZRSTORE_DATA"]) / "repos" / "large"
    try:
        revisions = make_large_branch(brz, branch, LARGE_REPOSITORY_BYTES)
        workers = proxied.gunicorn.worker_pids()
        with RssSampler(workers) as push:
            brz.run("push", "-q", "--no-tree", "-d", branch,
                    proxied.writer_url("large/big/main"))
        with RssSampler(workers) as pull:
            brz.run("branch", "-q", "--no-tree", f"{proxied.url}/bzr/large/big/main", clone)

        size = sum(f.stat().st_size for f in repository.rglob("*") if f.is_file())
        assert size > 0.9 * LARGE_REPOSITORY_BYTES, f"repository is only {size / MB:.0f} MB"
        assert brz.revision_ids(clone) == revisions
        for name, sampler in (("push", push), ("clone", pull)):
            assert sampler.growth < RSS_GROWTH_MAX_BYTES, (
                f"{name}: a worker grew by {sampler.growth / MB:.0f} MB")
    finally:  # 600 MB that pytest would otherwise keep for three runs
        for path in (branch, clone, repository):
            shutil.rmtree(path, ignore_errors=True)


# --- the scale-out site: routing by codebase, with stand-in nodes --------------------

class _NamedNode(http.server.BaseHTTPRequestHandler):
    """Answers every request with its server's name, standing in for a bzrstore node."""

    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def _answer(url: str, method: str = "GET") -> str:
    """The name of the node that answered, or the error status nginx gave."""
    data = b"x" if method == "POST" else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method),
                                    context=tls_context(), timeout=30) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        return str(exc.code)


def test_cluster_routes_each_codebase_to_one_node(tmp_path: Path):
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is not installed")
    nodes = []
    for name in ("A", "B"):
        node = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NamedNode)
        node.name = name  # type: ignore[attr-defined]
        threading.Thread(target=node.serve_forever, daemon=True).start()
        nodes.append(node)
    addresses = [f"127.0.0.1:{n.server_address[1]}" for n in nodes]
    nginx = Nginx(tmp_path / "nginx", addresses, site=CLUSTER_SITE).start()
    try:
        codebases = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
        home = {}
        for cb in codebases:
            answers = {_answer(f"{nginx.url}/bzr/{cb}/c/main/.bzr/smart", "POST"),
                       _answer(f"{nginx.url}/{cb}/c/main/.bzr/smart", "POST"),
                       _answer(f"{nginx.url}/bzr/{cb}/"),
                       _answer(f"{nginx.url}/bzr/{cb}/c/main/.bzr/branch-format"),
                       _answer(f"{nginx.url}/{cb}/diff?old=null:&new=x"),
                       _answer(f"{nginx.url}/{cb}/remotes/r", "POST")}
            assert len(answers) == 1, (cb, answers)  # every URL form: the same node
            home[cb] = answers.pop()
        assert set(home.values()) == {"A", "B"}
        # bzrstore's copy of nginx's ring agrees, so `bzrstore cluster` can tell an
        # operator where each codebase belongs.
        ring = Ring(addresses)
        many = [f"cb{n}" for n in range(300)]
        assert ({cb: "AB"[addresses.index(ring.node_of(cb))] for cb in codebases + many}
                == home | {cb: _answer(f"{nginx.url}/bzr/{cb}/") for cb in many})
        shared = ["/", "/bzr/", "/repositories", "/health", "/api/pushes", "/openapi.json"]
        assert {_answer(nginx.url + path) for path in shared * 2} == {"A", "B"}

        nodes[0].shutdown()
        nodes[0].server_close()
        for cb in codebases:  # never moved to B, however often asked
            expected = "502" if home[cb] == "A" else "B"
            assert [_answer(f"{nginx.url}/bzr/{cb}/c/.bzr/smart", "POST")
                    for _ in range(3)] == [expected] * 3, cb
        assert {_answer(nginx.url + path) for path in shared} == {"B"}
    finally:
        nginx.stop()
        for node in nodes[1:]:
            node.shutdown()
