"""X-Forwarded-* is believed from the configured proxies only."""

from __future__ import annotations

from pathlib import Path

import pytest
from breezy.controldir import ControlDir
from flask import Flask
from webtest import TestApp

from bzrstore.config import ConfigError, Settings, load_settings
from helpers import COMMITTER, make_app, push_branch, store_of

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bzr.example.org",
             "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    """Trusted proxies as an operator writes them in the environment."""
    return load_settings(environ={"BZRSTORE_TRUSTED_PROXIES": "127.0.0.1, 10.1.0.0/16"},
                         data=tmp_path / "data")


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    return TestApp(seeded)


def branch_hint(web: TestApp, peer: str) -> str:
    """The clone URL the branch page shows, as seen from a request by ``peer``."""
    page = web.get("/bzr/alpha/", headers={**FORWARDED, "Accept": "text/html"},
                   extra_environ={"REMOTE_ADDR": peer}).html
    return page.select("main p code")[-1].text


@pytest.mark.parametrize("peer", ["127.0.0.1", "10.1.200.3"])
def test_trusted_proxy_sets_scheme_and_host(web: TestApp, peer: str):
    assert branch_hint(web, peer) == "brz branch https://bzr.example.org/bzr/alpha/BRANCH"


@pytest.mark.parametrize("peer", ["10.2.0.1", "203.0.113.7", ""])
def test_anyone_else_is_ignored(web: TestApp, peer: str):
    assert branch_hint(web, peer) == "brz branch http://localhost/bzr/alpha/BRANCH"


def test_bad_proxy_address_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="BZRSTORE_TRUSTED_PROXIES"):
        load_settings(environ={"BZRSTORE_TRUSTED_PROXIES": "nginx.local"}, data=tmp_path)


PUBLIC_URL = "https://bzr.example.org/store"


@pytest.fixture
def public(tmp_path: Path) -> tuple[TestApp, str]:
    """An app with BZRSTORE_PUBLIC_URL set and one revision in ``alpha/c/main``."""
    app = make_app(tmp_path / "data", public_url=PUBLIC_URL)
    store = store_of(app)
    store.registry.add_codebase("alpha")
    target = store.storage.ensure_repository("alpha") / "c" / "main"
    # In-process Breezy, as `brz init`, `commit --unchanged` and `push --create-prefix`.
    work = ControlDir.create_standalone_workingtree(str(tmp_path / "work"))
    revid = work.commit("one", allow_pointless=True, committer=COMMITTER).decode()
    push_branch(work.branch, target)
    return TestApp(app), revid


@pytest.mark.parametrize("headers", [{}, {"Host": "evil.example:8443"}, FORWARDED])
def test_links_follow_the_public_url_not_the_host_header(public, headers):
    # Old code: every absolute link was built from the request's Host.
    web, revid = public
    info = web.get(f"/alpha/revision-info?old=null:&new={revid}", headers=headers).json
    assert info[0]["link"] == f"{PUBLIC_URL}/alpha/diff?old=null:&new={revid}"
    page = web.get("/bzr/alpha/", headers={**headers, "Accept": "text/html"}).html
    assert page.select("main p code")[-1].text == f"brz branch {PUBLIC_URL}/bzr/alpha/BRANCH"


def test_forms_must_come_from_the_public_origin(public):
    web, _ = public
    # Refused before any login is looked at; the public origin goes on to ask for one.
    web.post("/alpha/remotes/c", {"url": "https://x.example/"},
             headers={"Origin": "http://localhost"}, status=403)
    web.post("/alpha/remotes/c", {"url": "https://x.example/"},
             headers={"Origin": "https://bzr.example.org"}, status=401)
