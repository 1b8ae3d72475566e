"""The jail holds server-side: planted branch references, stacking URLs and symlinks."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir
from breezy.errors import NotBranchError
from breezy.transport import NoSuchFile
from flask import Flask
from webtest import TestApp

from bzrstore import cli
from bzrstore.node.archive import export_codebase
from bzrstore.repos.branches import break_lock, set_parent_location
from bzrstore.repos.check import check_codebases
from bzrstore.repos.controldirs import find_branches
from bzrstore.repos.jail import jailed_transport
from bzrstore.repos.storage import Storage
from helpers import basic, store_of
from servers import serving, tree_snapshot
from smartwire import request_v3

SMART_HEADERS = {"Content-Type": "application/octet-stream", **basic("worker", "secret")}
REFERENCE_FILES = {
    ".bzr/branch-format": b"Bazaar-NG meta directory, format 1\n",
    ".bzr/branch/format": b"Bazaar-NG Branch Reference Format 1\n",
}


class HitRecorder(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that answers 404 and remembers every request path."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                hits.append(self.path)
                self.send_error(404)

            do_GET = do_HEAD = do_POST = do_PUT = _record

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/planted/"


@pytest.fixture
def recorder() -> Iterator[HitRecorder]:
    server = HitRecorder()
    with serving(server):
        yield server


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    """The seeded app, codebase ``alpha`` with a real branch ``alpha/camp/main``."""
    root = Storage(store_of(seeded).settings.repos_dir).ensure_repository("alpha")
    (root / "camp").mkdir()
    ControlDir.create_branch_convenience(str(root / "camp" / "main"), force_new_tree=False)
    return TestApp(seeded)


@pytest.fixture
def settings(web: TestApp):
    return store_of(web.app).settings


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A real branch outside the data directory, physically locked like a live one."""
    path = tmp_path / "outside"
    branch = ControlDir.create_branch_convenience(str(path), force_new_tree=False)
    branch.lock_write()  # left held: a server that follows a reference meets it
    return path


def plant_reference(branch_dir: Path, location: str) -> None:
    """Write a branch reference as a worker's ``put`` verbs would."""
    (branch_dir / ".bzr" / "branch").mkdir(parents=True)
    for name, content in REFERENCE_FILES.items():
        (branch_dir / name).write_bytes(content)
    (branch_dir / ".bzr" / "branch" / "location").write_text(location)


def plant_reference_by_smart_put(web: TestApp, relpath: str, location: str) -> None:
    """Write a branch reference through the smart server, as an authenticated worker."""
    for directory in (relpath, f"{relpath}/.bzr", f"{relpath}/.bzr/branch"):
        answer = web.post("/bzr/alpha/.bzr/smart", request_v3(b"mkdir", directory.encode(), b""),
                          headers=SMART_HEADERS)
        assert b"ok" in answer.body, answer.body
    files = {**REFERENCE_FILES, ".bzr/branch/location": location.encode()}
    for name, content in files.items():
        body = request_v3(b"put", f"{relpath}/{name}".encode(), b"", body=content)
        answer = web.post("/bzr/alpha/.bzr/smart", body, headers=SMART_HEADERS)
        assert b"ok" in answer.body, answer.body


def is_locked(path: Path) -> bool:
    return Branch.open(str(path)).get_physical_lock_status()


def test_remotes_refuse_a_reference_to_a_local_branch(web, settings, outside):
    plant_reference(settings.repos_dir / "alpha" / "ref", outside.as_uri())
    before = tree_snapshot(outside)
    web.post("/alpha/remotes/ref", {"url": "https://example.org/x"},
             headers=basic("worker", "secret"), status=404)
    with pytest.raises(NotBranchError):
        set_parent_location(settings.repos_dir, "alpha/ref", "https://example.org/x")
    assert tree_snapshot(outside) == before


def test_remotes_make_no_request_for_a_reference_put_by_a_worker(web, settings, recorder):
    plant_reference_by_smart_put(web, "ref", recorder.url)
    assert (settings.repos_dir / "alpha" / "ref" / ".bzr" / "branch" / "location").exists()
    web.post("/alpha/remotes/ref", {"url": "https://example.org/x"},
             headers=basic("worker", "secret"), status=404)
    assert recorder.hits == []


def test_a_stacked_on_url_is_never_opened(web, settings, recorder):
    conf = settings.repos_dir / "alpha" / "camp" / "main" / ".bzr" / "branch" / "branch.conf"
    conf.write_text(f"stacked_on_location = {recorder.url}\n")
    set_parent_location(settings.repos_dir, "alpha/camp/main", "https://example.org/x")
    break_lock(settings.repos_dir, "alpha/camp/main")
    assert recorder.hits == []


def test_break_lock_does_not_follow_a_reference(settings, outside, recorder):
    plant_reference(settings.repos_dir / "alpha" / "camp" / "ref", outside.as_uri())
    plant_reference(settings.repos_dir / "alpha" / "camp" / "web", recorder.url)
    for target in ("alpha/camp/ref", "alpha/camp/web"):
        with pytest.raises(NotBranchError):
            break_lock(settings.repos_dir, target)
    assert is_locked(outside)
    assert recorder.hits == []


@pytest.fixture
def planted(settings, outside, recorder) -> Path:
    """References to a local branch outside and to the recorder, in ``alpha/camp``."""
    root = settings.repos_dir / "alpha"
    plant_reference(root / "camp" / "ref", outside.as_uri())
    plant_reference(root / "camp" / "web", recorder.url)
    return root


def test_export_skips_references(planted, outside, recorder, tmp_path):
    before = tree_snapshot(outside)
    with (tmp_path / "alpha.tar").open("wb") as out:
        manifest = export_codebase(planted, "alpha", out, wait_seconds=1)
    assert list(manifest["branches"]) == ["camp/main"]
    assert recorder.hits == []
    assert tree_snapshot(outside) == before


def test_check_skips_references(planted, settings, outside, recorder):
    before = tree_snapshot(outside)
    assert not any(f.failed for f in check_codebases(settings.repos_dir, ["alpha"]))
    assert recorder.hits == []
    assert tree_snapshot(outside) == before


def test_smart_branch_verbs_on_a_reference_make_no_request(web, recorder):
    plant_reference_by_smart_put(web, "camp/web", recorder.url)
    for request in (request_v3(b"Branch.lock_write", b"camp/web/", b"", b""),
                    request_v3(b"Branch.last_revision_info", b"camp/web/"),
                    request_v3(b"Branch.get_stacked_on_url", b"camp/web/"),
                    request_v3(b"Branch.set_last_revision_info", b"camp/web/", b"", b"",
                               b"0", b"null:")):
        web.post("/bzr/alpha/.bzr/smart", request, headers=SMART_HEADERS)
    assert recorder.hits == []
    assert web.get("/bzr/alpha/", headers={"Accept": "text/plain"}).text == ""


def test_find_branches_does_not_loop_through_symlinks(settings):
    root = settings.repos_dir / "alpha"
    (root / "camp" / "loop").symlink_to(root)
    (root / "camp" / "self").symlink_to(".")
    branches = list(find_branches(jailed_transport(root)))
    assert [b.base.rstrip("/").rsplit("/", 2)[-2:] for b in branches] == [["camp", "main"]]


def test_smart_push_below_a_planted_symlink_creates_nothing_outside(web, settings, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (settings.repos_dir / "alpha" / "outlink").symlink_to(elsewhere)
    init = request_v3(b"BzrDirFormat.initialize_ex_1.16", b"x", b".", b"False", b"False",
                      b"False", b"", b"", b"", b"False", b"False")
    web.post("/bzr/alpha/outlink/deeper/main/.bzr/smart", init, headers=SMART_HEADERS,
             expect_errors=True)
    assert list(elsewhere.iterdir()) == []


def test_cli_commands_do_not_follow_references(planted, settings, outside, recorder,
                                               monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("BZRSTORE_DATA", str(settings.data))
    monkeypatch.setenv("BZRSTORE_DATABASE_URL", "")
    before = tree_snapshot(outside)
    for target in ("alpha/camp/ref", "alpha/camp/web"):
        assert cli.main(["break-lock", target]) == 1
    assert cli.main(["export", "alpha", "-o", str(tmp_path / "alpha.tar")]) == 0
    assert cli.main(["check", "alpha"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert recorder.hits == []
    assert tree_snapshot(outside) == before and is_locked(outside)


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    """A repository directory with a subdirectory, and a secret beside it."""
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    (tmp_path / "repo" / "a" / "b" / "file").write_bytes(b"inside")
    (tmp_path / "secret").write_bytes(b"outside")
    return tmp_path / "repo"


def test_jail_reads_plain_and_missing_paths_below_it(jail: Path):
    transport = jailed_transport(jail)
    assert transport.get_bytes("a/b/file") == b"inside"
    assert not transport.has("a/missing/deeper")
    assert not transport.has("a/b/file/below-a-file")


@pytest.mark.parametrize("link", ["a/out", "a/b/out"])
def test_jail_refuses_a_symlink_leading_out_at_any_depth(jail: Path, link: str):
    (jail / link).symlink_to(jail.parent)
    transport = jailed_transport(jail)
    with pytest.raises(NoSuchFile):
        transport.get_bytes(f"{link}/secret")
    with pytest.raises(NoSuchFile):
        transport.put_bytes(f"{link}/planted", b"x")
    assert not (jail.parent / "planted").exists()
    assert (jail.parent / "secret").read_bytes() == b"outside"


def test_jail_follows_a_symlink_that_stays_inside(jail: Path):
    (jail / "alias").symlink_to(jail / "a" / "b")
    assert jailed_transport(jail).get_bytes("alias/file") == b"inside"


def test_jail_resolves_a_path_that_is_not_normal(jail: Path):
    transport = jailed_transport(jail)
    # Breezy normalises relpaths before a transport sees them; the jail does not rely on it.
    with pytest.raises(NoSuchFile):
        transport.local_abspath("a/../../secret")
    assert transport.local_abspath("a/./b/file").endswith("/a/./b/file")


def test_jail_reached_through_a_symlinked_root(jail: Path, tmp_path: Path):
    (tmp_path / "via").symlink_to(jail)
    transport = jailed_transport(tmp_path / "via")
    assert transport.get_bytes("a/b/file") == b"inside"
    (jail / "out").symlink_to(tmp_path)
    with pytest.raises(NoSuchFile):
        transport.get_bytes("out/secret")
