"""X-Forwarded-* is believed from the configured proxies only."""

from __future__ import annotations

import pytest
from webtest import TestApp

from bzrstore import create_app
from bzrstore.config import ConfigError, load_settings

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bzr.example.org",
             "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture
def web(tmp_path) -> TestApp:
    settings = load_settings(environ={"BZRSTORE_TRUSTED_PROXIES": "127.0.0.1, 10.1.0.0/16"},
                             data=tmp_path / "data")
    app = create_app(settings)
    app.extensions["bzrstore"].registry.add_codebase("alpha")
    return TestApp(app)


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
