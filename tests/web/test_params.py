"""Query parameters: every route answers a bad value with a short 400, never a 500."""

from __future__ import annotations

import pytest
from flask import Flask
from webtest import TestApp
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from bzrstore import create_app
from bzrstore.auth import hash_password
from bzrstore.config import Settings
from bzrstore.web.params import MAX_PAGE, int_arg, text_arg
from helpers import TEST_BCRYPT_ROUNDS, basic, store_of

ADMIN = basic("boss", "secret")
# Values that once reached int(), or the database, unchecked.
BAD_NUMBERS = ["100000000000000000000", "²", "٣", "1²", "-1", "0", "+1", " 1", "1.0", "0x10",
               "", "9" * 400]


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    """The app on each registry backend."""
    return settings


@pytest.fixture
def web(app: Flask) -> TestApp:
    """Codebase ``alpha`` alone (a test counts them) and an admin, on each registry backend."""
    registry = store_of(app).registry
    registry.add_codebase("alpha")
    registry.add_worker("boss", hash_password("secret", rounds=TEST_BCRYPT_ROUNDS), admin=True)
    return TestApp(app)


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize(("path", "name", "headers"), [
    ("/", "page", {}), ("/bzr/", "page", {"Accept": "application/json"}),
    ("/admin/", "page", ADMIN), ("/api/pushes", "limit", {}),
])
def test_bad_numbers_are_400(web: TestApp, path: str, name: str, headers: dict, value: str):
    response = web.get(path, params={name: value}, headers=headers, expect_errors=True)
    assert response.status_int == 400, response.text
    maximum = 1000 if name == "limit" else MAX_PAGE
    assert f"{name} must be a whole number from 1 to {maximum}" in response.text


@pytest.mark.parametrize(("path", "name", "headers"), [
    ("/", "q", {}), ("/bzr/", "q", {"Accept": "text/plain"}), ("/admin/", "q", ADMIN),
    ("/api/pushes", "codebase", {}),
])
@pytest.mark.parametrize("value", ["a\x00b", "\x1b[2J", "\x85", "x" * 256])
def test_bad_text_is_400(web: TestApp, path: str, name: str, headers: dict, value: str):
    response = web.get(path, params={name: value}, headers=headers, expect_errors=True)
    assert response.status_int == 400, response.text
    assert name in response.text


def test_a_page_past_the_end_is_empty(web: TestApp):
    response = web.get(f"/bzr/?page={MAX_PAGE}", headers={"Accept": "application/json"})
    assert response.json == [] and response.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize("query", [
    "diff?old=null:&new=null:&path=" + "a" * 5000, "diff?old=null:&new=null:&path=a%00b",
    "diff?old=null:&new=" + "x" * 2000, "revision-info?old=null:&new=" + "x" * 2000,
    "diff?old=%ff&new=null:", "revision-info?old=%ff&new=null:",
])
def test_bad_diff_parameters_are_400(sqlite_settings: Settings, query: str):
    app = create_app(sqlite_settings)
    app.extensions["bzrstore"].registry.add_codebase("alpha")
    response = TestApp(app).get(f"/alpha/{query}", expect_errors=True)
    assert response.status_int in (400, 404), response.text
    assert "Traceback" not in response.text


def test_int_arg():
    args = MultiDict({"n": "42"})
    assert int_arg(args, "n", 1, maximum=50) == 42
    assert int_arg(MultiDict(), "n", 7) == 7
    with pytest.raises(BadRequest):
        int_arg(args, "n", 1, maximum=41)


def test_text_arg():
    assert text_arg(MultiDict({"q": "grüße"}), "q") == "grüße"
    assert text_arg(MultiDict(), "q") == ""
    with pytest.raises(BadRequest):
        text_arg(MultiDict({"q": "abc"}), "q", max_chars=2)
