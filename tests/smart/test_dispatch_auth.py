"""Who may do what through the smart dispatcher: anonymous reads, workers write."""

from __future__ import annotations

import pytest
from webtest import TestApp

from bzrstore.errors import CHALLENGE
from bzrstore.registry import RegistryUnavailable
from helpers import basic
from servers import tree_snapshot
from smartwire import request_v3

SMART = "/bzr/alpha/.bzr/smart"
HEADERS = {"Content-Type": "application/octet-stream"}


def smart_headers(user: str, password: str) -> dict[str, str]:
    return {**HEADERS, **basic(user, password)}


def test_anonymous_write_verb_gets_basic_challenge(web: TestApp, repos):
    before = tree_snapshot(repos)
    response = web.post(SMART, request_v3(b"mkdir", b"newdir", b""), headers=HEADERS,
                        expect_errors=True)
    assert response.status_int == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="bzrstore"'
    assert not (repos / "alpha" / "newdir").exists()
    assert {k: v for k, v in tree_snapshot(repos).items() if k in before} == before


def test_worker_may_write(web: TestApp, repos):
    response = web.post(SMART, request_v3(b"mkdir", b"newdir", b""),
                        headers=smart_headers("worker", "secret"))
    assert response.status_int == 200
    assert (repos / "alpha" / "newdir").is_dir()


def test_wrong_password_and_unknown_user_look_the_same(web: TestApp):
    wrong = web.post(SMART, request_v3(b"hello"), headers=smart_headers("worker", "nope"),
                     expect_errors=True)
    unknown = web.post(SMART, request_v3(b"hello"), headers=smart_headers("nobody", "nope"),
                       expect_errors=True)
    assert wrong.status_int == unknown.status_int == 401
    assert wrong.body == unknown.body
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_write_verbs_on_the_anonymous_path_never_reach_disk(web: TestApp, repos):
    """Unknown or undecodable verbs go to the read-only server, which refuses writes."""
    web.post(SMART, request_v3(b"hello"), headers=HEADERS)
    before = tree_snapshot(repos)
    for body in (b"garbage without newline", b"garbage\x01with\x01args\n",
                 request_v3(b"NoSuchVerb", b"x"), request_v3(b"hello")[:30]):
        response = web.post(SMART, body, headers=HEADERS)
        assert response.status_int == 200
        assert b"error" in response.body or b"UnknownMethod" in response.body
    assert tree_snapshot(repos) == before


def test_push_parents_are_created_only_for_writers(web: TestApp, repos):
    init = request_v3(b"BzrDirFormat.initialize_ex_1.16", b"x", b".", b"False", b"False",
                      b"False", b"", b"", b"", b"False", b"False")
    web.post("/bzr/alpha/camp/main/.bzr/smart", init, headers=HEADERS, expect_errors=True)
    assert not (repos / "alpha" / "camp").exists()
    web.post("/bzr/alpha/camp/main/.bzr/smart", init, headers=smart_headers("worker", "secret"))
    assert (repos / "alpha" / "camp").is_dir()


def test_the_refusals_say_why(web: TestApp):
    anonymous = web.post(SMART, request_v3(b"mkdir", b"newdir", b""), headers=HEADERS,
                         expect_errors=True)
    assert anonymous.text == "this request writes: credentials required\n"
    wrong = web.post(SMART, request_v3(b"hello"), headers=smart_headers("worker", "nope"),
                     expect_errors=True)
    assert (wrong.status_int, wrong.text) == (401, "invalid credentials\n")
    assert wrong.headers["WWW-Authenticate"] == CHALLENGE


def test_a_worker_reading_gets_the_writable_app(web: TestApp):
    """Credentials are checked on reads too, and a good pair is served as a writer."""
    apps = web.app.wsgi_app.app.apps  # the dispatcher's, inside the metrics middleware
    web.post(SMART, request_v3(b"hello"), headers=smart_headers("worker", "secret"))
    writable = apps.get("alpha", True)
    assert len(apps) == 1  # the worker's request built the writable app, no other
    web.post(SMART, request_v3(b"hello"), headers=HEADERS)
    assert len(apps) == 2 and apps.get("alpha", True) is writable


@pytest.mark.parametrize("where", ["codebase_exists", "worker_password_hash"])
def test_registry_outage_is_503(web: TestApp, monkeypatch: pytest.MonkeyPatch, where: str):
    def unavailable(*args: object) -> None:
        raise RegistryUnavailable("database is down")

    monkeypatch.setattr(web.app.extensions["bzrstore"].registry, where, unavailable)
    response = web.post(SMART, request_v3(b"hello"), headers=smart_headers("worker", "secret"),
                        expect_errors=True)
    assert (response.status_int, response.text) == (503, "registry unavailable\n")
