"""WSGI-level tests of the smart dispatcher: names, jail, limits, caches and errors."""

from __future__ import annotations

import struct

import pytest
from webtest import TestApp

from bzrstore import create_app
from bzrstore.config import load_settings
from helpers import basic
from servers import tree_snapshot
from smartwire import request_v1, request_v3

SMART = "/bzr/alpha/.bzr/smart"
HEADERS = {"Content-Type": "application/octet-stream"}


def smart_headers(user: str, password: str) -> dict[str, str]:
    return {**HEADERS, **basic(user, password)}


def test_hello_needs_no_credentials(web: TestApp):
    response = web.post(SMART, request_v3(b"hello"), headers=HEADERS)
    assert response.status_int == 200
    assert response.content_type == "application/octet-stream"
    assert b"ok" in response.body


def test_protocol_one_and_two_requests_are_served(web: TestApp):
    assert web.post(SMART, request_v1(b"hello"), headers=HEADERS).body == b"ok\x012\n"
    body = b"bzr request 2\n" + request_v1(b"hello")
    assert web.post(SMART, body, headers=HEADERS).body.endswith(b"ok\x012\n")


@pytest.mark.parametrize("path", [
    "/bzr/Alpha/.bzr/smart",            # upper case codebase
    "/bzr/.alpha/.bzr/smart",           # leading dot
    "/bzr/admin/.bzr/smart",            # reserved name
    "/bzr/alpha/.hidden/.bzr/smart",    # campaign with a leading dot
    "/bzr/alpha/c/../../beta/.bzr/smart",
    "/bzr/alpha/c/./main/.bzr/smart",
    "/bzr/alpha/c//main/.bzr/smart",
    "/bzr/alpha/c/.bzr/main/.bzr/smart",
    "/bzr/alpha/c/a\\b/.bzr/smart",
    "/bzr/alpha/c/%00/.bzr/smart",
    "/bzr/alpha/c%C3%A9/.bzr/smart",    # non-ASCII campaign
    "/bzr/" + "a" * 256 + "/.bzr/smart",  # SPEC: up to 255 characters
])
def test_invalid_names_are_400_before_any_disk_access(web: TestApp, repos, path: str):
    before = tree_snapshot(repos)
    response = web.post(path, request_v3(b"hello"), headers=HEADERS, expect_errors=True)
    assert response.status_int == 400
    assert response.content_type == "text/plain"
    assert tree_snapshot(repos) == before


def test_encoded_slash_is_refused(web: TestApp):
    response = web.post(
        "/bzr/alpha/c/.bzr/smart", request_v3(b"hello"), headers=HEADERS, expect_errors=True,
        extra_environ={"RAW_URI": "/bzr/alpha/c%2Fmain/.bzr/smart"},
    )
    assert response.status_int == 400
    assert "encoded" in response.text


def test_a_checked_url_is_remembered_with_its_raw_form(web: TestApp):
    # The same PATH_INFO passes with a plain request URI, then is refused with an
    # encoded slash, then passes again: the check is kept per (PATH_INFO, raw URI).
    for raw, status in [("/bzr/alpha/c/main/.bzr/smart", 200),
                        ("/bzr/alpha/c%2Fmain/.bzr/smart", 400),
                        ("/bzr/alpha/c%2fmain/.bzr/smart", 400),
                        ("/bzr/alpha/c/main/.bzr/smart", 200)] * 2:
        response = web.post("/bzr/alpha/c/main/.bzr/smart", request_v3(b"hello"),
                            headers=HEADERS, expect_errors=True,
                            extra_environ={"RAW_URI": raw})
        assert response.status_int == status, raw
    for _ in range(2):  # a bad name is refused every time, never remembered as good
        response = web.post("/bzr/alpha/a\\b/.bzr/smart", request_v3(b"hello"),
                            headers=HEADERS, expect_errors=True)
        assert response.status_int == 400


def test_unregistered_codebase_is_404_and_creates_nothing(web: TestApp, repos):
    response = web.post("/bzr/gamma/x/.bzr/smart", request_v3(b"hello"), headers=HEADERS,
                        expect_errors=True)
    assert response.status_int == 404
    assert "gamma" in response.text
    assert not (repos / "gamma").exists()


def test_get_on_smart_url_is_405(web: TestApp):
    response = web.get(SMART, expect_errors=True)
    assert response.status_int == 405
    assert response.headers["Allow"] == "POST"


def test_body_over_the_limit_is_413(web: TestApp, repos):
    before = tree_snapshot(repos)
    body = request_v3(b"put", b"big", b"", body=b"x" * 5000)
    response = web.post(SMART, body, headers=smart_headers("worker", "secret"), expect_errors=True)
    assert response.status_int == 413
    assert tree_snapshot(repos) == before


def test_errors_are_json_when_asked(web: TestApp):
    response = web.post("/bzr/gamma/.bzr/smart", request_v3(b"hello"),
                        headers={**HEADERS, "Accept": "application/json"}, expect_errors=True)
    assert response.status_int == 404
    assert response.json == {"error": "no such codebase: gamma", "status": 404}


def test_truncated_request_is_answered_incomplete(web: TestApp):
    response = web.post(SMART, request_v3(b"get", b"x")[:-3], headers=HEADERS)
    assert response.status_int == 200
    assert response.body == b"error\x01incomplete request\n"


def test_empty_body_is_answered_incomplete(web: TestApp):
    response = web.post(SMART, b"", headers=HEADERS)
    assert response.body == b"error\x01incomplete request\n"


def test_errors_do_not_reveal_filesystem_paths(web: TestApp, tmp_path):
    for body in (request_v1(b"get", b"missing/file"), request_v1(b"stat", b"missing"),
                 request_v3(b"get", b"../../../etc/passwd"), request_v3(b"list_dir", b"nope")):
        response = web.post(SMART, body, headers=HEADERS)
        assert str(tmp_path).encode() not in response.body


def test_symlink_planted_in_repository_is_not_followed(web: TestApp, repos, tmp_path):
    web.post(SMART, request_v3(b"hello"), headers=HEADERS)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"outside secret")
    (repos / "alpha" / "link").symlink_to(outside)
    (repos / "alpha" / "dirlink").symlink_to(tmp_path)
    for path in (b"link", b"dirlink/outside.txt"):
        response = web.post(SMART, request_v1(b"get", path), headers=HEADERS)
        assert b"outside secret" not in response.body
        assert b"NoSuchFile" in response.body
    response = web.post(SMART, request_v3(b"put", b"dirlink/new", b"", body=b"data"),
                        headers=smart_headers("worker", "secret"))
    assert not (tmp_path / "new").exists()


def test_campaign_allow_list(tmp_path):
    settings = load_settings(environ={}, data=tmp_path / "data", campaigns=("lintian-fixes",))
    app = create_app(settings)
    app.extensions["bzrstore"].registry.add_codebase("alpha")
    web = TestApp(app)
    ok = web.post("/bzr/alpha/lintian-fixes/main/.bzr/smart", request_v3(b"hello"),
                  headers=HEADERS)
    assert ok.status_int == 200
    refused = web.post("/bzr/alpha/other/main/.bzr/smart", request_v3(b"hello"),
                       headers=HEADERS, expect_errors=True)
    assert refused.status_int == 403


def test_control_files_are_readable_and_jailed(web: TestApp, repos, tmp_path):
    web.post(SMART, request_v3(b"hello"), headers=HEADERS)
    response = web.get("/bzr/alpha/.bzr/branch-format")
    assert response.body == (repos / "alpha" / ".bzr" / "branch-format").read_bytes()
    assert web.get("/bzr/alpha/.bzr/nope", expect_errors=True).status_int == 404
    assert web.get("/bzr/gamma/.bzr/branch-format", expect_errors=True).status_int == 404
    (tmp_path / "secret").write_bytes(b"outside")
    (repos / "alpha" / ".bzr" / "leak").symlink_to(tmp_path / "secret")
    assert web.get("/bzr/alpha/.bzr/leak", expect_errors=True).status_int == 404


def test_mounted_apps_are_cached_and_bounded(tmp_path):
    settings = load_settings(environ={}, data=tmp_path / "data", smart_app_cache_size=2)
    app = create_app(settings)
    for name in ("a1", "a2", "a3"):
        app.extensions["bzrstore"].registry.add_codebase(name)
    apps = app.wsgi_app.app.apps  # the dispatcher's, inside the metrics middleware
    web = TestApp(app)
    web.post("/bzr/a1/.bzr/smart", request_v3(b"hello"), headers=HEADERS)
    first = apps.get("a1", False)
    web.post("/bzr/a1/.bzr/smart", request_v3(b"hello"), headers=HEADERS)
    assert apps.get("a1", False) is first
    for name in ("a2", "a3"):
        web.post(f"/bzr/{name}/.bzr/smart", request_v3(b"hello"), headers=HEADERS)
    assert len(apps) == 2


def test_codebase_registration_is_cached_briefly(web: TestApp):
    dispatcher = web.app.wsgi_app.app  # inside the metrics middleware
    now = [1000.0]
    dispatcher.clock = lambda: now[0]
    registry = web.app.extensions["bzrstore"].registry
    assert web.post(SMART, request_v3(b"hello"), headers=HEADERS).status_int == 200
    registry.remove_codebase("alpha")
    now[0] += dispatcher.codebase_cache_seconds - 1
    assert web.post(SMART, request_v3(b"hello"), headers=HEADERS).status_int == 200
    now[0] += 2
    assert web.post(SMART, request_v3(b"hello"), headers=HEADERS,
                    expect_errors=True).status_int == 404
    # An unknown codebase is never remembered: registering it takes effect at once.
    registry.add_codebase("alpha")
    assert web.post(SMART, request_v3(b"hello"), headers=HEADERS).status_int == 200


def test_smart_metrics_label_only_known_verbs(web: TestApp):
    web.post(SMART, request_v3(b"hello"), headers=HEADERS)
    web.post(SMART, request_v3(b"Made-Up-Verb-%d" % 1), headers=HEADERS)
    text = web.get("/metrics").text
    assert 'bzrstore_smart_requests_total{verb="hello",writable="false"} 1.0' in text
    assert 'bzrstore_smart_requests_total{verb="unknown",writable="false"} 1.0' in text
    assert "Made-Up" not in text


def test_our_own_failure_is_a_short_text_500_logged_with_the_path(web: TestApp, caplog,
                                                                monkeypatch):
    def broken(codebase: str):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(web.app.extensions["bzrstore"].storage, "ensure_repository", broken)
    response = web.post(SMART, request_v3(b"hello"), headers=HEADERS, expect_errors=True)
    assert response.status_int == 500
    assert response.content_type == "text/plain"
    assert response.text == "internal error\n"
    assert any(SMART in record.getMessage() for record in caplog.records)


def test_a_repository_the_disk_cannot_hold_is_a_503(web: TestApp, monkeypatch):
    def full(codebase: str):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(web.app.extensions["bzrstore"].storage, "ensure_repository", full)
    response = web.post(SMART, request_v3(b"hello"), headers=HEADERS, expect_errors=True)
    assert response.status_int == 503
    assert response.text == "storage unavailable\n"


@pytest.mark.parametrize("arguments", [b"i1e", b"d1:ai1ee"])
def test_arguments_that_are_not_a_list_are_bad_input_not_a_500(web: TestApp, arguments: bytes):
    body = (b"bzr message 3 (bzr 1.6)\n\x00\x00\x00\x02de"
            + b"s" + struct.pack("!L", len(arguments)) + arguments + b"e")
    response = web.post(SMART, body, headers=HEADERS, expect_errors=True)
    assert response.status_int == 200
    assert b"error" in response.body
