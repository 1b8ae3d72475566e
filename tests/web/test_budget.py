"""The budget of expensive browse pages in the app: which URLs it counts, and the 429."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import TestApp

from bzrstore.web.budget import FREE_CHANGES_PAGES, expensive_kind
from helpers import basic, seed
from smartwire import request_v3

UNITS = 3
BRANCH = "/bzr/alpha/c/main/-"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"page_budget": UNITS, "page_budget_window_seconds": 60.0}


@pytest.fixture
def client(app) -> TestApp:
    seed(app)
    return TestApp(app, extra_environ={"REMOTE_ADDR": "198.51.100.7"})


@pytest.mark.parametrize(("path", "args", "kind"), [
    (f"{BRANCH}/annotate/README", {}, "annotate"),
    (f"{BRANCH}/annotate/dir/a.c", {"rev": "3"}, "annotate"),
    ("/bzr/alpha/-/annotate/x", {}, "annotate"),  # the codebase's own branch
    ("/bzr/alpha/c/-/compare/1..2", {}, "compare"),
    (f"{BRANCH}/tarball", {"rev": "1"}, "tarball"),
    (f"{BRANCH}/changes", {"page": str(FREE_CHANGES_PAGES + 1)}, "changes"),
    (f"{BRANCH}/changes", {"page": "999999"}, "changes"),
    (f"{BRANCH}/changes", {"page": str(FREE_CHANGES_PAGES)}, None),
    (f"{BRANCH}/changes", {}, None),
    (f"{BRANCH}/changes", {"page": "x"}, None),  # a 400 from the view: nothing to charge
    (f"{BRANCH}/changes", {"page": "1" * 40}, None),
    (f"{BRANCH}/revision/3", {}, None),
    (f"{BRANCH}/files", {}, None),
    (f"{BRANCH}/file/annotate/x", {}, None),
    (f"{BRANCH}/file/a/-/annotate/b", {}, None),  # a file path holding "/-/annotate/"
    (f"{BRANCH}/raw/README", {}, None),
    (f"{BRANCH}/atom", {}, None),
    (f"{BRANCH}/annotated", {}, None),
    ("/bzr/-/annotate/x", {}, None),
    ("/bzr/alpha/", {}, None),
    ("/alpha/diff", {"old": "a", "new": "b"}, None),
    ("/alpha/.bzr/smart", {}, None),
])
def test_expensive_kind(path, args, kind):
    assert expensive_kind(path, args) == kind


def test_over_budget_is_429_with_retry_after_and_nothing_else_stops(client):
    for _ in range(UNITS):  # the page may not exist (a 404) on this branch: still counted
        assert client.get(f"{BRANCH}/annotate/README", expect_errors=True).status_int != 429
    refused = client.get(f"{BRANCH}/compare/1..2", status=429)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "too many expensive pages" in refused.text
    as_json = client.get(f"{BRANCH}/tarball", headers={"Accept": "application/json"},
                         status=429)
    assert as_json.json["status"] == 429
    client.get(f"{BRANCH}/changes", params={"page": "11"}, status=429)
    # Cheap pages, the APIs, the smart protocol and the other clients are not counted.
    for path in (f"{BRANCH}/changes?page={FREE_CHANGES_PAGES}", f"{BRANCH}/files",
                 f"{BRANCH}/file/README", f"{BRANCH}/revision/1", "/bzr/alpha/"):
        assert client.get(path, expect_errors=True).status_int != 429, path
    client.get("/health", status=200)
    client.get("/bzr/", status=200)
    client.get("/alpha/diff", params={"old": "null:", "new": "null:"}, status=200)
    smart = client.post("/alpha/.bzr/smart", request_v3(b"hello"),
                        headers={"Content-Type": "application/octet-stream"})
    assert smart.status_int == 200
    other = client.get(f"{BRANCH}/annotate/README", expect_errors=True,
                       extra_environ={"REMOTE_ADDR": "198.51.100.8"})
    assert other.status_int != 429


def test_malformed_credentials_are_answered_before_the_budget_is_charged(client):
    for _ in range(UNITS + 2):
        client.get(f"{BRANCH}/annotate/README", headers={"Authorization": "Basic !!"},
                   status=401)
    assert client.get(f"{BRANCH}/annotate/README", expect_errors=True).status_int != 429


def test_post_is_never_charged(client):
    for _ in range(UNITS + 2):
        assert client.post(f"{BRANCH}/annotate/README", expect_errors=True).status_int != 429


@pytest.mark.parametrize("app_overrides", [{"page_budget": 0}])
def test_a_zero_budget_counts_nothing(client, app):
    for _ in range(20):
        assert client.get(f"{BRANCH}/tarball", expect_errors=True).status_int != 429
    assert not (app.extensions["bzrstore"].settings.run_dir / "page-budget.sqlite3").exists()


def test_authenticated_workers_have_the_same_budget(client):
    # Credentials buy nothing here: a leaked password must not lift the limit.
    for _ in range(UNITS):
        client.get(f"{BRANCH}/annotate/x", headers=basic("worker", "secret"), expect_errors=True)
    client.get(f"{BRANCH}/annotate/x", headers=basic("worker", "secret"), status=429)


def test_a_forged_forwarded_for_does_not_buy_a_new_budget(client):
    # No trusted proxy is configured: X-Forwarded-For is the client's word, not its address.
    for n in range(UNITS):
        client.get(f"{BRANCH}/annotate/x", headers={"X-Forwarded-For": f"203.0.113.{n}"},
                   expect_errors=True)
    client.get(f"{BRANCH}/annotate/x", headers={"X-Forwarded-For": "203.0.113.99"},
               status=429)


@pytest.mark.parametrize("app_overrides", [{"page_budget": UNITS,
                                            "trusted_proxies": ("127.0.0.1",)}])
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(app):
    seed(app)
    proxied = TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    for _ in range(UNITS):
        proxied.get(f"{BRANCH}/annotate/x", headers={"X-Forwarded-For": "203.0.113.1"},
                    expect_errors=True)
    proxied.get(f"{BRANCH}/annotate/x", headers={"X-Forwarded-For": "203.0.113.1"},
                status=429)
    other = proxied.get(f"{BRANCH}/annotate/x", headers={"X-Forwarded-For": "203.0.113.2"},
                        expect_errors=True)
    assert other.status_int == 404
