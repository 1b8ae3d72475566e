"""Fixtures of the smart path's WSGI-level tests."""

from __future__ import annotations

import pytest
from webtest import TestApp

from bzrstore import create_app
from bzrstore.auth import hash_password
from bzrstore.config import load_settings


@pytest.fixture
def web(tmp_path) -> TestApp:
    settings = load_settings(environ={}, data=tmp_path / "data", max_body_bytes=4096)
    app = create_app(settings)
    store = app.extensions["bzrstore"]
    store.registry.add_codebase("alpha")
    store.registry.add_codebase("beta")
    store.registry.add_worker("worker", hash_password("secret", rounds=4))
    return TestApp(app)


@pytest.fixture
def repos(web: TestApp):
    return web.app.extensions["bzrstore"].settings.repos_dir
