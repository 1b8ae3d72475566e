"""Shared fixtures, and the ``e2e`` marker put on every test that starts a real process.

The fast tier (``pytest -m "not e2e"``) drives the app in-process (WebTest, plain WSGI
calls); the ``e2e`` tier runs real servers and clients: gunicorn, nginx, brz, chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from flask import Flask
from webtest import TestApp

from bzrstore import auth, create_app
from bzrstore.config import Settings, load_settings
from bzrstore.registry import Registry, open_registry
from helpers import (
    E2E_CODEBASES,
    NO_PAGE_BUDGET,
    POSTGRES_URL_ENV,
    WORKER,
    StoreServer,
    WallClock,
    run_cli,
    seed,
    starts_processes,
    store_of,
)
from postgres import postgres_schema
from servers import Brz, Gunicorn

# --- the e2e tier ----------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``e2e`` the tests of ``*_e2e.py`` and those using a process-starting fixture."""
    e2e = pytest.mark.e2e
    for item in items:
        if item.path.stem.endswith("_e2e") or _uses_processes(item):
            item.add_marker(e2e)


def _uses_processes(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(getattr(definition.func, "starts_processes", False)
               for name in info.names_closure
               for definition in info.name2fixturedefs.get(name, ()))


# --- the app in-process: fast, no server ----------------------------------------------

@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Settings overrides for ``app``; a module redefines this fixture to change them."""
    return {}


@pytest.fixture
def app_settings(tmp_path: Path, app_overrides: dict[str, Any]) -> Settings:
    """The settings ``app`` is built from: SQLite under ``tmp_path``, plus ``app_overrides``.

    A module redefines this fixture for other sources (the ``settings`` of each backend,
    an environment to parse).
    """
    return load_settings(environ={}, data=tmp_path / "data",
                         **{**NO_PAGE_BUDGET, **app_overrides})


@pytest.fixture
def app(app_settings: Settings) -> Iterator[Flask]:
    """bzrstore's whole WSGI onion (``create_app``), its registry empty."""
    app = create_app(app_settings)
    yield app
    store_of(app).registry.close()


@pytest.fixture
def seeded(app: Flask) -> Flask:
    """``app`` with codebases alpha and beta, worker ``worker`` and admin ``boss``."""
    return seed(app)


@pytest.fixture
def web(app: Flask) -> TestApp:
    """A WebTest client of ``app`` (request ``seeded`` too for its data)."""
    return TestApp(app)

# --- registry: settings and an open registry on each backend -------------------------

@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL server URL the tests may use, or skip."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL tests skipped")
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    with postgres_schema(postgres_url) as url:
        yield url


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings with the embedded SQLite registry under a temporary data directory."""
    return load_settings(environ={}, data=tmp_path / "data")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each registry backend, its database empty (PostgreSQL: a new schema)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_settings")
    url = request.getfixturevalue("postgres_schema_url")
    return load_settings(environ={}, data=tmp_path / "data", database_url=url)


@pytest.fixture
def settings(fresh_settings: Settings) -> Settings:
    """Settings for each registry backend, ready to serve.

    On PostgreSQL the schema is upgraded first, as an operator runs ``bzrstore db
    upgrade`` before ``serve``; the embedded SQLite registry upgrades itself when opened.
    """
    if fresh_settings.database_url:
        registry = open_registry(fresh_settings)
        try:
            registry.upgrade_schema()
        finally:
            registry.close()
    return fresh_settings


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    """An open registry with its schema, on each backend."""
    registry = open_registry(settings)
    registry.upgrade_schema()
    yield registry
    registry.close()


# --- end to end: bzrstore under a real gunicorn, and the real brz client -------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
@starts_processes
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[StoreServer]:
    """bzrstore under gunicorn (the project's gunicorn.conf.py) on each registry backend."""
    with ExitStack() as stack:
        database_url = ""
        if request.param == "postgresql":
            url = os.environ.get(POSTGRES_URL_ENV)
            if not url:
                pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL tests skipped")
            database_url = stack.enter_context(postgres_schema(url))
        data = tmp_path_factory.mktemp("store") / "data"
        env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": database_url,
               "GUNICORN_ACCESSLOG": str(data.parent / "access.log"),
               "BZRSTORE_PAGE_BUDGET": str(NO_PAGE_BUDGET["page_budget"])}
        run_cli(env, "db", "upgrade")  # as an operator does before serving on PostgreSQL
        run_cli(env, "codebase", "add", *E2E_CODEBASES)
        run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
        server = Gunicorn(env, data.parent / "gunicorn.log").start()
        stack.callback(server.stop)
        yield StoreServer(server, data, env)


@pytest.fixture
@starts_processes
def brz(tmp_path: Path) -> Brz:
    """The brz command line with a fresh home directory."""
    return Brz(tmp_path / "home")


@pytest.fixture
def checkpw_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The stored hashes bcrypt.checkpw is asked to verify against (none: no hashing)."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(auth.bcrypt, "checkpw", counting)
    return calls


@pytest.fixture
def clock() -> WallClock:
    """A wall clock at a fixed time that the test moves by hand (``clock.now += …``)."""
    return WallClock()
