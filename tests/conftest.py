"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import bcrypt
import pytest

from bzrstore import auth
from bzrstore.config import Settings, load_settings
from bzrstore.registry import Registry, open_registry
from helpers import E2E_CODEBASES, POSTGRES_URL_ENV, WORKER, StoreServer, run_cli
from postgres import postgres_schema
from servers import Brz, Gunicorn

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
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each registry backend (PostgreSQL in a throwaway schema)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_settings")
    url = request.getfixturevalue("postgres_schema_url")
    return load_settings(environ={}, data=tmp_path / "data", database_url=url)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    """An open registry with its schema, on each backend."""
    registry = open_registry(settings)
    registry.ensure_schema()
    yield registry
    registry.close()


# --- end to end: bzrstore under a real gunicorn, and the real brz client -------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
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
               "GUNICORN_ACCESSLOG": str(data.parent / "access.log")}
        run_cli(env, "codebase", "add", *E2E_CODEBASES)
        run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
        server = Gunicorn(env, data.parent / "gunicorn.log").start()
        stack.callback(server.stop)
        yield StoreServer(server, data, env)


@pytest.fixture
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
