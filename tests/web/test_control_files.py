"""Plain-HTTP GET of ``.bzr`` files: only the allow-list brz needs, never lock details."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir
from flask import Flask
from webtest import TestApp

from bzrstore.repos.storage import Storage
from helpers import StoreServer, store_of
from servers import Brz, serving
from smartwire import request_v3

PACK = "0123456789abcdef0123456789abcdef"
SERVED = [".bzr/branch-format", "camp/main/.bzr/branch-format", "camp/main/.bzr/branch/format",
          "camp/main/.bzr/branch/branch.conf", "camp/main/.bzr/branch/last-revision",
          "camp/main/.bzr/branch/tags", ".bzr/repository/format",
          ".bzr/repository/shared-storage", ".bzr/repository/pack-names",
          f".bzr/repository/packs/{PACK}.pack", f".bzr/repository/indices/{PACK}.rix",
          f".bzr/repository/indices/{PACK}.cix"]
HIDDEN = ["camp/main/.bzr/branch/lock/held/info", ".bzr/repository/lock/held/info",
          ".bzr/README", ".bzr/repository/upload/x.pack", f".bzr/repository/obsolete_packs/"
          f"{PACK}.pack", ".bzr/repository/no-working-trees", "camp/main/.bzr/branch/location"]


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    """Codebase ``alpha`` with branch ``camp/main``, both locked, and stray files."""
    root = Storage(store_of(seeded).settings.repos_dir).ensure_repository("alpha")
    (root / "camp").mkdir()
    branch = ControlDir.create_branch_convenience(str(root / "camp" / "main"),
                                                  force_new_tree=False)
    branch.lock_write()
    branch.repository.control_files.lock_write()
    for relpath in (*SERVED, *HIDDEN):
        path = root / relpath
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"data")
    return TestApp(seeded)


@pytest.mark.parametrize("relpath", SERVED)
def test_allow_listed_files_are_served(web, relpath):
    assert web.get(f"/bzr/alpha/{relpath}").status_int == 200


@pytest.mark.parametrize("relpath", HIDDEN)
def test_other_files_are_404(web, relpath):
    response = web.get(f"/bzr/alpha/{relpath}", expect_errors=True)
    assert response.status_int == 404
    assert b"hostname" not in response.body and b"nonce" not in response.body


@pytest.mark.parametrize("location", ["camp/main/.gitignore", "camp/main/x%0Ay", "camp/.hidden",
                                      "camp/main/a%5Cb"])
def test_refused_names_are_404_so_brz_looks_further_up(web, location):
    response = web.get(f"/bzr/alpha/{location}/.bzr/branch-format", expect_errors=True)
    assert response.status_int == 404


class SmartHidingProxy(ThreadingHTTPServer):
    """Forwards GET and HEAD to the store and answers 404 to every POST (no smart server)."""

    def __init__(self, upstream: str) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                paths.append(self.path)
                request = urllib.request.Request(upstream + self.path, method=self.command)
                if self.headers.get("Range"):
                    request.add_header("Range", self.headers["Range"])
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, body, headers = answer.status, answer.read(), answer.headers
                except urllib.error.HTTPError as error:
                    status, body, headers = error.code, error.read(), error.headers
                self.send_response(status)
                if headers.get("Content-Range"):
                    self.send_header("Content-Range", headers["Content-Range"])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def proxy(store: StoreServer) -> Iterator[SmartHidingProxy]:
    server = SmartHidingProxy(store.url)
    with serving(server):
        yield server


def test_brz_reads_over_plain_http_with_only_the_allow_list(store, brz: Brz, proxy,
                                                             tmp_path: Path):
    work = tmp_path / "work"
    revids = brz.make_branch(work, revisions=2)
    (work / ".gitignore").write_text("*.o\n")
    brz.run("add", "-q", cwd=work)
    brz.run("commit", "-q", "-m", "ignore", cwd=work)
    brz.run("push", "-q", store.writer_url("alpha/plain/main"), cwd=work)
    Branch.open(str(store.repos / "alpha/plain/main")).lock_write()  # a live lock
    url = f"http://127.0.0.1:{proxy.server_address[1]}/bzr/alpha/plain/main"
    assert brz.run("log", "--show-ids", "-r", "2", url).stdout.count(revids[-1]) == 1
    brz.run("branch", url, tmp_path / "copy")
    assert brz.revision_ids(tmp_path / "copy")[:2] == revids
    assert brz.run("cat", f"{url}/dir/file.txt").stdout == "line 1\nline 1\n"
    brz.run("info", "-v", url)
    assert any(path.endswith("/lock/held/info") for path in proxy.paths)  # asked, refused
    assert brz.run("cat", store.reader_url("alpha/plain/main/.gitignore")).stdout == "*.o\n"


@pytest.mark.parametrize("request_bytes", [
    request_v3(b"get", b"camp/main/.bzr/branch/lock/held/info"),
    request_v3(b"get", b".bzr/repository/lock/held/info"),
    request_v3(b"readv", b"camp/main/.bzr/branch/lock/held/info", body=b"0,10"),
], ids=["get-branch", "get-repository", "readv"])
def test_anonymous_smart_reads_do_not_see_lock_details(web, request_bytes):
    response = web.post("/bzr/alpha/.bzr/smart", request_bytes,
                        headers={"Content-Type": "application/octet-stream"})
    assert b"hostname" not in response.body and b"nonce" not in response.body
