"""``bzrstore db upgrade|status``, and the commands that need the schema, on each backend."""

from __future__ import annotations

import pytest

from bzrstore.cli import serve
from bzrstore.config import Settings
from bzrstore.registry import LATEST_VERSION, MIGRATIONS
from helpers import point_environment, raw_execute


@pytest.fixture
def fresh_env(fresh_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment names an empty database (no schema yet) on each backend."""
    return point_environment(monkeypatch, fresh_settings)


def test_upgrade_applies_every_migration_then_says_current(fresh_env: Settings, run):
    status, out, err = run("db", "status")
    assert status == 1 and err == ""
    assert f"pending migration 1: {MIGRATIONS[0].description}" in out
    assert f"schema version 0 is behind {LATEST_VERSION}: run 'bzrstore db upgrade'" in out

    status, out, err = run("db", "upgrade")
    assert (status, err) == (0, "")
    assert out.splitlines() == [f"applied migration {m.version}: {m.description}"
                                for m in MIGRATIONS]
    assert run("db", "upgrade") == (0, f"schema is current (version {LATEST_VERSION})\n", "")

    status, out, _ = run("db", "status")
    assert status == 0
    assert out.startswith("applied migration 1 (20") and " UTC): " in out
    assert "pending" not in out and "schema is current" in out


def test_upgrade_keeps_a_pre_versioning_database(fresh_env: Settings, run):
    raw_execute(fresh_env, "CREATE TABLE codebase (name TEXT PRIMARY KEY)",
                "INSERT INTO codebase VALUES ('hello')")
    assert run("db", "upgrade")[0] == 0
    assert run("codebase", "list") == (0, "hello\n", "")


def test_commands_on_postgres_need_an_upgrade_first(fresh_env: Settings, run):
    if not fresh_env.database_url:
        # The embedded default upgrades itself: the README's first command works as ever.
        assert run("codebase", "add", "hello")[0] == 0
        assert run("db", "status")[0] == 0
        return
    status, out, err = run("codebase", "add", "hello")
    assert (status, out) == (1, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("bzrstore: error: the registry's schema is at version 0,")
    assert "run 'bzrstore db upgrade' with the same BZRSTORE_DATABASE_URL" in err
    assert raw_execute(fresh_env, "SELECT to_regclass('codebase')") == [(None,)]
    assert run("db", "upgrade")[0] == 0
    assert run("codebase", "add", "hello")[0] == 0


def test_serve_on_a_behind_postgres_schema_refuses_before_gunicorn(
        fresh_env: Settings, run, monkeypatch: pytest.MonkeyPatch):
    if not fresh_env.database_url:
        pytest.skip("the embedded SQLite registry upgrades itself")
    monkeypatch.setattr(serve.os, "execvp", lambda *args: pytest.fail("gunicorn started"))
    status, out, err = run("serve")
    assert (status, out) == (1, "")
    assert err.count("\n") == 1 and "bzrstore db upgrade" in err
