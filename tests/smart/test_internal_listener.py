"""The dispatcher's decision about the internal listener: the server's marker, nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from webtest import TestApp

from bzrstore.node.listeners import INTERNAL, LISTENER_KEY, PUBLIC, ListenerMarker
from helpers import basic, make_app, seed
from smartwire import request_v3

HEADERS = {"Content-Type": "application/octet-stream"}
INTERNAL_ENVIRON = {LISTENER_KEY: INTERNAL}
MKDIR = request_v3(b"mkdir", b"newdir", b"")
# Everything a client could send to claim the internal listener.
FORGED_HEADERS: list[dict[str, str]] = [
    {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "127.0.0.1:9929",
     "X-Forwarded-Port": "9929", "X-Forwarded-Proto": "http"},
    {"Forwarded": "for=127.0.0.1;host=127.0.0.1:9929;proto=http"},
    {"Host": "127.0.0.1:9929"},
    {"X-Bzrstore-Listener": "internal", "Bzrstore-Listener": "internal"},
]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # The proxy is trusted, so ProxyFix applies what it forwards: still no trust.
    return {"internal_bind": "127.0.0.1:9929", "trusted_proxies": ("127.0.0.1",)}


def test_internal_listener_writes_without_credentials(web: TestApp, repos):
    response = web.post("/alpha/.bzr/smart", MKDIR, headers=HEADERS,
                        extra_environ=INTERNAL_ENVIRON)
    assert response.status_int == 200
    assert (repos / "alpha" / "newdir").is_dir()


def test_internal_listener_on_the_bzr_form_too(web: TestApp, repos):
    web.post("/bzr/alpha/.bzr/smart", MKDIR, headers=HEADERS, extra_environ=INTERNAL_ENVIRON)
    assert (repos / "alpha" / "newdir").is_dir()


def test_internal_listener_still_checks_credentials_sent(web: TestApp, repos):
    response = web.post("/alpha/.bzr/smart", MKDIR, headers={**HEADERS, **basic("worker", "no")},
                        extra_environ=INTERNAL_ENVIRON, expect_errors=True)
    assert response.status_int == 401
    assert not (repos / "alpha" / "newdir").exists()


@pytest.mark.parametrize("path", ["/alpha/.bzr/smart", "/bzr/alpha/.bzr/smart"])
@pytest.mark.parametrize("headers", FORGED_HEADERS)
@pytest.mark.parametrize("marker", [None, PUBLIC, "Internal", "1", ""])
def test_public_requests_never_get_internal_trust(web: TestApp, repos, path, headers, marker):
    extra = {"REMOTE_ADDR": "127.0.0.1", "SERVER_PORT": "8000"}
    if marker is not None:
        extra[LISTENER_KEY] = marker
    response = web.post(path, MKDIR, headers={**HEADERS, **headers}, extra_environ=extra,
                        expect_errors=True)
    assert response.status_int == 401
    assert not (repos / "alpha" / "newdir").exists()


def test_the_marker_counts_only_when_the_listener_is_configured(tmp_path):
    app: Flask = seed(make_app(tmp_path))  # BZRSTORE_INTERNAL_BIND unset
    response = TestApp(app).post("/alpha/.bzr/smart", MKDIR, headers=HEADERS,
                                 extra_environ=INTERNAL_ENVIRON, expect_errors=True)
    assert response.status_int == 401


class _Socket:
    def __init__(self, internal: Any) -> None:
        self.internal = internal


@pytest.mark.parametrize(("environ", "expected"), [
    ({"gunicorn.socket": _Socket(True)}, INTERNAL),
    ({"gunicorn.socket": _Socket(False)}, PUBLIC),
    ({"gunicorn.socket": _Socket("yes")}, PUBLIC),
    ({"gunicorn.socket": object()}, PUBLIC),
    ({}, PUBLIC),
    # Whatever was in the environ before, the accepted socket decides.
    ({LISTENER_KEY: INTERNAL, "gunicorn.socket": _Socket(False)}, PUBLIC),
    ({LISTENER_KEY: INTERNAL, "HTTP_BZRSTORE_LISTENER": INTERNAL}, PUBLIC),
])
def test_marker_comes_from_the_socket(environ, expected):
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    ListenerMarker(app)(dict(environ), None)
    assert seen[LISTENER_KEY] == expected
