"""The ``bzrstore-noauth`` benchmark candidate (benchmarks/noauth_wsgi.py) still serves."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from webtest import TestApp

from bzrstore.repos.storage import create_shared_repository
from smartwire import request_v3

ENTRY_POINT = Path(__file__).resolve().parents[2] / "benchmarks" / "noauth_wsgi.py"
HEADERS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestApp:
    create_shared_repository(tmp_path / "repo")
    monkeypatch.setenv("BZRSTORE_NOAUTH_ROOT", str(tmp_path))
    spec = importlib.util.spec_from_file_location("noauth_wsgi", ENTRY_POINT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return TestApp(module.app)


def test_hello_is_served(web: TestApp):
    response = web.post("/repo/.bzr/smart", request_v3(b"hello"), headers=HEADERS)
    assert response.status_int == 200
    assert b"ok" in response.body


def test_other_urls_are_404(web: TestApp):
    assert web.get("/repo/", expect_errors=True).status_int == 404


def test_a_body_over_its_limit_is_413(web: TestApp):
    web.app.max_body_bytes = 1000
    body = request_v3(b"put", b"file", b"", body=b"z" * 5000)
    response = web.post("/repo/.bzr/smart", body, headers=HEADERS, expect_errors=True)
    assert response.status_int == 413
