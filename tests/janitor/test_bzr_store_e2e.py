"""Janitor's own ``tests/test_bzr_store.py``, translated to bzrstore: one test each.

Janitor's ``create_client`` gives an internal client (``app``, port 9929, writes allowed)
and a public one, for a config with campaign ``campaign`` and codebase ``foo``; here
that is ``janitor_store``'s internal and public listeners (``BZRSTORE_CAMPAIGNS``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from breezy.branch import Branch
from breezy.controldir import ControlDir
from webtest import TestApp

from helpers import as_worker

AIOHTTP_HEADERS = {"Accept": "*/*", "User-Agent": "Python/3.11 aiohttp/3.9.1"}


def request(url: str, data: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Status and body of a GET (or a POST of ``data``), errors included."""
    req = urllib.request.Request(url, data=data, headers=headers or AIOHTTP_HEADERS)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_health(janitor_store, internal):
    for base in (internal, janitor_store.url):
        assert request(base + "/health") == (200, b"ok")


def test_ready(janitor_store, internal):
    for base in (internal, janitor_store.url):
        assert request(base + "/ready") == (200, b"ok")


def test_home(web: TestApp):
    """No codebase yet: Janitor answers an empty text; for ``*/*`` bzrstore gives ``[]``."""
    response = web.get("/", headers=AIOHTTP_HEADERS)
    assert response.status_int == 200
    assert json.loads(response.body) == []


def test_fetch_format(janitor_store, internal):
    """An empty smart request reaches the smart server (200) wherever Janitor posts."""
    for path in ("/foo/.bzr/smart", "/foo/campaign/.bzr/smart",
                 "/foo/campaign/main/.bzr/smart"):
        assert request(internal + path, b"")[0] == 200
    assert request(internal + "/bar/.bzr/smart", b"")[0] == 404
    # A campaign outside the allow-list: Janitor says 404, bzrstore 403 (refused by name).
    assert request(internal + "/foo/notcampaign/.bzr/smart", b"")[0] in (403, 404)


def test_index(janitor_store, internal):
    assert request(internal + "/foo/campaign/main/.bzr/smart", b"")[0] == 200
    status, body = request(janitor_store.url + "/bzr/", headers={"Accept": "application/json"})
    assert status == 200
    assert json.loads(body) == ["foo"]


def test_push(janitor_store, tmp_path):
    """Open the codebase's repository on the public port, then the push Janitor marks
    "Currently broken": ``bzr+`` URL, ``ControlDir.create`` at ``foo/campaign``, push."""
    wt = ControlDir.create_standalone_workingtree(str(tmp_path / "wt"))
    (tmp_path / "wt" / "afile").write_text("foo")
    wt.add("afile")
    revid = wt.commit("A change", committer="Joe Example <joe@example.com>")

    cd = ControlDir.open(janitor_store.url + "/bzr/foo/")
    cd.find_repository()

    url = "bzr+" + as_worker(janitor_store.url + "/bzr/foo/campaign/")
    branch_controldir = ControlDir.create(url, format=wt.controldir.cloning_metadir())
    branch = branch_controldir.create_branch(name="")
    wt.branch.push(branch)
    assert Branch.open(janitor_store.url + "/bzr/foo/campaign").last_revision() == revid
