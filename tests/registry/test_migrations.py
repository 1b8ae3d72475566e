"""Schema migrations on both backends: fresh, adopted, repeated, concurrent, and checked."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bzrstore import create_app
from bzrstore.config import Settings, load_settings
from bzrstore.registry import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    Registry,
    SchemaBehind,
    open_registry,
)
from bzrstore.registry import migrations as migrations_module
from bzrstore.registry import schema as schema_module
from bzrstore.store import open_store
from helpers import raw_execute, run_cli
from servers import Gunicorn

TABLES = ("codebase", "worker", "bzrstore_admin", "bzrstore_branch", "bzrstore_push",
          "bzrstore_secret")
# What ensure_schema created before versioning, word for word: the database to adopt.
PRE_VERSIONING_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS codebase (name TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS worker (name TEXT PRIMARY KEY, password TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bzrstore_admin (worker TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS bzrstore_branch (codebase TEXT NOT NULL,"
    " path TEXT NOT NULL, revno INTEGER NOT NULL, revision_id TEXT NOT NULL,"
    " committer TEXT, timestamp DOUBLE PRECISION, message TEXT,"
    " PRIMARY KEY (codebase, path))",
    "CREATE TABLE IF NOT EXISTS bzrstore_push (codebase TEXT NOT NULL,"
    " path TEXT NOT NULL, old_revno INTEGER NOT NULL, old_revision_id TEXT NOT NULL,"
    " new_revno INTEGER NOT NULL, new_revision_id TEXT NOT NULL, worker TEXT,"
    " pushed_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bzrstore_secret (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
# A bcrypt-shaped hash: only stored and read back here.
HASH = "$2b$04$abcdefghijklmnopqrstuu" + "." * 31
PRE_VERSIONING_ROWS = (
    "INSERT INTO codebase (name) VALUES ('hello')",
    f"INSERT INTO worker (name, password) VALUES ('alice', '{HASH}')",
    "INSERT INTO bzrstore_admin (worker) VALUES ('alice')",
    "INSERT INTO bzrstore_branch VALUES ('hello', 'main/trunk', 3, 'rev-3', 'A', 1.5, 'm')",
    "INSERT INTO bzrstore_push VALUES ('hello', 'main/trunk', 0, 'null:', 3, 'rev-3',"
    " 'alice', 2.5)",
    "INSERT INTO bzrstore_secret VALUES ('form-signing-key', 'kept')",
)


@contextmanager
def opened(settings: Settings) -> Iterator[Registry]:
    registry = open_registry(settings)
    try:
        yield registry
    finally:
        registry.close()


def table_names(settings: Settings) -> set[str]:
    """The tables in the test's database (PostgreSQL: its throwaway schema)."""
    if settings.database_url:
        schema = schema_of(settings.database_url)
        rows = raw_execute(settings, "SELECT table_name FROM information_schema.tables"
                                     f" WHERE table_schema = '{schema}'")
    else:
        rows = raw_execute(settings, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


def schema_of(url: str) -> str:
    return url.rpartition("%3D")[2]  # the search_path of postgres.url_with_search_path


def all_rows(settings: Settings) -> dict[str, list[tuple]]:
    return {table: sorted(raw_execute(settings, f"SELECT * FROM {table}")) for table in TABLES}


def test_fresh_database_gets_every_migration_then_none(fresh_settings: Settings):
    with opened(fresh_settings) as registry:
        assert registry.schema_version() == 0
        with pytest.raises(SchemaBehind, match="run 'bzrstore db upgrade'"):
            registry.check_schema()
        assert registry.upgrade_schema() == list(MIGRATIONS)
        assert registry.schema_version() == LATEST_VERSION == registry.check_schema()
        assert registry.upgrade_schema() == []  # twice: nothing to do
        applied = registry.applied_migrations()
    assert [(v, d) for v, d, _ in applied] == [(m.version, m.description) for m in MIGRATIONS]
    assert table_names(fresh_settings) == {*TABLES, "bzrstore_schema"}


def test_pre_versioning_database_is_adopted_without_loss(fresh_settings: Settings):
    raw_execute(fresh_settings, *PRE_VERSIONING_SCHEMA, *PRE_VERSIONING_ROWS)
    before = all_rows(fresh_settings)
    with opened(fresh_settings) as registry:
        assert registry.schema_version() == 0
        assert [m.version for m in registry.upgrade_schema()] == [1]
        assert registry.upgrade_schema() == []
        assert registry.list_codebases() == ["hello"]
        assert registry.is_admin("alice")
        assert registry.form_signing_key() == "kept"
    assert all_rows(fresh_settings) == before


def test_janitor_tables_are_kept_and_ours_added(fresh_settings: Settings):
    raw_execute(
        fresh_settings,
        "CREATE TABLE codebase (name TEXT UNIQUE, branch_url TEXT, inactive BOOLEAN)",
        "INSERT INTO codebase VALUES ('hello', 'https://h', FALSE)",
        "CREATE TABLE worker (name TEXT NOT NULL UNIQUE, password TEXT NOT NULL, link TEXT)",
        f"INSERT INTO worker VALUES ('w1', '{HASH}', 'https://w1')",
    )
    with opened(fresh_settings) as registry:
        assert [m.version for m in registry.upgrade_schema()] == [1]
        assert registry.worker_password_hash("w1") == HASH
    assert raw_execute(fresh_settings, "SELECT * FROM codebase") == [("hello", "https://h", False)]
    assert raw_execute(fresh_settings, "SELECT link FROM worker") == [("https://w1",)]
    assert table_names(fresh_settings) == {*TABLES, "bzrstore_schema"}


def test_a_later_migration_applies_alone(fresh_settings: Settings,
                                         monkeypatch: pytest.MonkeyPatch):
    with opened(fresh_settings) as registry:
        registry.upgrade_schema()
    second = Migration(2, "a note per codebase",
                       tables={"bzrstore_note": "CREATE TABLE bzrstore_note (text TEXT)"},
                       statements=("INSERT INTO bzrstore_note VALUES ('made once')",))
    monkeypatch.setattr(migrations_module, "MIGRATIONS", (*MIGRATIONS, second))
    monkeypatch.setattr(schema_module, "LATEST_VERSION", 2)
    with opened(fresh_settings) as registry:
        with pytest.raises(SchemaBehind, match="at version 1, this bzrstore needs 2"):
            registry.prepare_schema() if fresh_settings.database_url else registry.check_schema()
        assert registry.upgrade_schema() == [second]
        assert registry.upgrade_schema() == []
        assert registry.check_schema() == 2
    assert raw_execute(fresh_settings, "SELECT text FROM bzrstore_note") == [("made once",)]


def test_a_newer_schema_is_accepted(registry: Registry, settings: Settings):
    # Another node already upgraded by a later release: migrations only add.
    raw_execute(settings, "INSERT INTO bzrstore_schema VALUES (99, 'from the future', 0)")
    assert registry.check_schema() == 99
    assert registry.upgrade_schema() == []
    open_store(settings).registry.close()


def test_concurrent_upgraders_apply_each_migration_once(fresh_settings: Settings):
    registries = [open_registry(fresh_settings) for _ in range(4)]
    barrier = threading.Barrier(len(registries))
    results: list[list[Migration]] = []
    errors: list[BaseException] = []

    def upgrade(registry: Registry) -> None:
        try:
            barrier.wait()
            results.append(registry.upgrade_schema())
        except BaseException as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(r,)) for r in registries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for registry in registries:
        registry.close()
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], list(MIGRATIONS)]
    rows = raw_execute(fresh_settings, "SELECT version FROM bzrstore_schema")
    assert rows == [(m.version,) for m in MIGRATIONS]


def test_sqlite_service_upgrades_itself(sqlite_settings: Settings):
    store = open_store(sqlite_settings)
    try:
        assert store.registry.schema_version() == LATEST_VERSION
    finally:
        store.registry.close()


# --- PostgreSQL: the service never runs DDL ------------------------------------------

@pytest.fixture
def limited_role(postgres_schema_url: str, tmp_path: Path) -> Iterator[str]:
    """A URL of a new role that may use the test's schema but not create in it."""
    import psycopg

    owner = load_settings(environ={}, data=tmp_path, database_url=postgres_schema_url)
    schema, role = schema_of(postgres_schema_url), f"r_{secrets.token_hex(6)}"
    try:
        raw_execute(owner, f"CREATE ROLE {role} LOGIN",
                    f"GRANT USAGE ON SCHEMA {schema} TO {role}",
                    f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
                    f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
                    f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}")
    except psycopg.Error as exc:
        pytest.skip(f"cannot create a test role: {exc}")
    parts = urlsplit(postgres_schema_url)
    yield urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))
    raw_execute(owner, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


@pytest.mark.parametrize("existing", ["empty", "pre-versioning"])
def test_service_on_postgres_refuses_a_behind_schema_and_creates_nothing(
        postgres_schema_url: str, limited_role: str, tmp_path: Path, existing: str):
    owner = load_settings(environ={}, data=tmp_path / "data", database_url=postgres_schema_url)
    if existing == "pre-versioning":
        raw_execute(owner, *PRE_VERSIONING_SCHEMA, *PRE_VERSIONING_ROWS)
    before = table_names(owner)
    for url in (postgres_schema_url, limited_role):  # owner or not, the service runs no DDL
        settings = load_settings(environ={}, data=tmp_path / "data", database_url=url)
        with pytest.raises(SchemaBehind) as raised:
            create_app(settings)
        message = str(raised.value)
        assert "\n" not in message
        assert message.startswith("the registry's schema is at version 0, this bzrstore needs")
        assert "run 'bzrstore db upgrade' with the same BZRSTORE_DATABASE_URL" in message
    assert table_names(owner) == before

    with opened(owner) as registry:  # the operator's upgrade, as the owner
        registry.upgrade_schema()
    settings = load_settings(environ={}, data=tmp_path / "data", database_url=limited_role)
    app = create_app(settings)  # the limited role now serves
    store = app.extensions["bzrstore"]
    try:
        assert store.registry.upgrade_schema() == []  # current: no CREATE needed
        assert store.registry.add_codebase("zsh")
    finally:
        store.registry.close()


@pytest.mark.e2e  # gunicorn, and the bzrstore command
def test_gunicorn_on_a_behind_postgres_schema_exits_saying_what_to_run(
        postgres_schema_url: str, tmp_path: Path):
    env = {**os.environ, "BZRSTORE_DATA": str(tmp_path / "data"),
           "BZRSTORE_DATABASE_URL": postgres_schema_url}
    # One worker: with two, the second's failed boot can reach the master while it is
    # already halting for the first, and gunicorn then exits 1 instead of 3.
    server = Gunicorn(env, tmp_path / "refused.log", workers=1)
    with pytest.raises(RuntimeError, match="did not start"):
        server.start()
    assert server.proc.wait(timeout=30) == 3  # gunicorn's "Worker failed to boot."
    log = (tmp_path / "refused.log").read_text()
    assert "SchemaBehind: the registry's schema is at version 0" in log
    assert "run 'bzrstore db upgrade' with the same BZRSTORE_DATABASE_URL" in log
    assert "Reason: Worker failed to boot." in log

    assert "applied migration 1" in run_cli(env, "db", "upgrade")
    Gunicorn(env, tmp_path / "served.log").start().stop()  # start() waits for /health
