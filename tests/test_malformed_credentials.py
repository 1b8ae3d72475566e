"""An Authorization header that cannot be read is a 401 with the challenge, on every route."""

from __future__ import annotations

import pytest
from test_auth import MALFORMED_AUTHORIZATION
from webtest import TestApp

from bzrstore.errors import CHALLENGE
from helpers import basic, make_app, store_of
from smartwire import request_v3

REVISION = "null:"
# (method, path, body): every kind of route, anonymous ones included.
ROUTES = [
    ("GET", "/health", None),
    ("GET", "/ready", None),
    ("GET", "/metrics", None),
    ("GET", "/openapi.json", None),
    ("GET", "/", None),
    ("GET", "/bzr/", None),
    ("GET", "/bzr/alpha/", None),
    ("GET", "/repositories", None),
    ("GET", "/bzr/alpha/.bzr/branch-format", None),
    ("GET", f"/alpha/diff?old={REVISION}&new={REVISION}", None),
    ("GET", f"/alpha/revision-info?old={REVISION}&new={REVISION}", None),
    ("GET", "/admin/", None),
    ("GET", "/api/pushes", None),
    ("GET", "/no/such/page", None),
    ("POST", "/admin/break-lock", b"target=alpha"),
    ("POST", "/alpha/remotes/upstream", b"url=https%3A%2F%2Fexample.org%2Fx"),
    ("POST", "/bzr/alpha/.bzr/smart", request_v3(b"BzrDir.open_2.1", b"")),  # a read verb
    ("POST", "/alpha/.bzr/smart", request_v3(b"mkdir", b"x", b"")),  # a write verb
]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> TestApp:
    app = make_app(tmp_path_factory.mktemp("malformed") / "data")
    store_of(app).registry.add_codebase("alpha")
    return TestApp(app)


def call(web: TestApp, method: str, path: str, body: bytes | None,
         headers: dict[str, str]) -> object:
    if method == "GET":
        return web.get(path, headers=headers, expect_errors=True)
    content_type = ("application/octet-stream" if path.endswith("/smart")
                    else "application/x-www-form-urlencoded")
    return web.post(path, body, headers={**headers, "Content-Type": content_type},
                    expect_errors=True)


@pytest.mark.parametrize("header", MALFORMED_AUTHORIZATION)
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_malformed_credentials_are_401_everywhere(web: TestApp, method: str, path: str,
                                                  body: bytes | None, header: str):
    # Old code: served as if anonymous (200 on /health, 401 only where a login was needed).
    response = call(web, method, path, body, {"Authorization": header})
    assert response.status_int == 401, response.text
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert "Traceback" not in response.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, basic("nobody", "pw")])
def test_no_or_wellformed_credentials_still_reach_anonymous_routes(web: TestApp,
                                                                   headers: dict[str, str]):
    assert web.get("/health", headers=headers).text.strip() == "ok"
