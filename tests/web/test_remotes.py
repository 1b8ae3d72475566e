"""POST /<cb>/remotes/<remote>: setting a branch's parent location."""

from __future__ import annotations

import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir
from flask import Flask
from webtest import TestApp

from bzrstore.repos.storage import create_shared_repository
from helpers import basic, store_of

URL = "https://salsa.debian.org/debian/alpha.git"


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    """The seeded app, alpha's repository with an empty branch ``upstream`` (as `brz init`)."""
    repo = store_of(seeded).settings.repos_dir / "alpha"
    create_shared_repository(repo)
    ControlDir.create_branch_convenience(str(repo / "upstream"), force_new_tree=False)
    return TestApp(seeded)


def parent(web: TestApp) -> str | None:
    repos = web.app.extensions["bzrstore"].settings.repos_dir
    return Branch.open(str(repos / "alpha" / "upstream")).get_parent()


def test_worker_sets_parent(web: TestApp):
    response = web.post("/alpha/remotes/upstream", {"url": URL}, headers=basic("worker", "secret"))
    assert response.json == {"codebase": "alpha", "remote": "upstream", "url": URL}
    assert parent(web) == URL


def test_credentials_are_required(web: TestApp):
    anonymous = web.post("/alpha/remotes/upstream", {"url": URL}, status=401)
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="bzrstore"'
    web.post("/alpha/remotes/upstream", {"url": URL}, headers=basic("worker", "nope"), status=401)
    assert parent(web) is None


@pytest.mark.parametrize("url", ["", "file:///etc/passwd", "/srv/elsewhere", "not a url",
                                 "https://", "ftp://example.com/x", "https://x/\nInjected",
                                 "http://ü.example/", "http://[::1/x"])  # old code: 500
def test_bad_urls_are_400(web: TestApp, url: str):
    web.post("/alpha/remotes/upstream", {"url": url}, headers=basic("worker", "secret"),
             status=400)
    assert parent(web) is None


def test_unknown_branch_or_codebase_is_404(web: TestApp):
    auth = basic("worker", "secret")
    web.post("/alpha/remotes/nosuch", {"url": URL}, headers=auth, status=404)
    web.post("/gamma/remotes/upstream", {"url": URL}, headers=auth, status=404)
    web.post("/alpha/remotes/.hidden", {"url": URL}, headers=auth, status=400)
    repos = web.app.extensions["bzrstore"].settings.repos_dir
    assert not (repos / "alpha" / "nosuch").exists()


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost.evil.example",
                                    "https://localhost", "null"])
def test_browser_from_another_origin_is_refused(web: TestApp, origin: str):
    # Old code: a page elsewhere could make a browser with cached credentials do this.
    web.post("/alpha/remotes/upstream", {"url": URL},
             headers={**basic("worker", "secret"), "Origin": origin}, status=403)
    assert parent(web) is None


def test_our_own_origin_and_no_origin_are_served(web: TestApp):
    auth = basic("worker", "secret")
    web.post("/alpha/remotes/upstream", {"url": URL}, headers={**auth, "Origin": "http://localhost"})
    web.post("/alpha/remotes/upstream", {"url": URL + "x"}, headers=auth)  # brz, Janitor
    assert parent(web) == URL + "x"
