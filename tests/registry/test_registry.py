"""The registry on both backends: codebases, workers, schema on existing data, failures."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bzrstore.auth import Authenticator, hash_password
from bzrstore.config import Settings, load_settings
from bzrstore.registry import (
    PostgresRegistry,
    Registry,
    RegistryError,
    RegistryUnavailable,
    SQLiteRegistry,
    WorkerExists,
    WorkerInfo,
    open_registry,
)
from helpers import raw_execute
from postgres import url_through
from tcpproxy import TcpProxy

HASH = "$2b$04$abcdefghijklmnopqrstuu" + "." * 31


def test_open_registry_chooses_backend_by_url(settings: Settings):
    registry = open_registry(settings)
    expected = PostgresRegistry if settings.database_url else SQLiteRegistry
    assert isinstance(registry, expected)
    assert type(registry).placeholder == ("%s" if settings.database_url else "?")


def test_codebases(registry: Registry):
    assert registry.list_codebases() == []
    assert registry.add_codebase("zsh") is True
    assert registry.add_codebase("hello") is True
    assert registry.add_codebase("zsh") is False
    assert registry.codebase_exists("zsh")
    assert not registry.codebase_exists("bash")
    assert registry.list_codebases() == ["hello", "zsh"]
    assert registry.remove_codebase("zsh") is True
    assert registry.remove_codebase("zsh") is False
    assert registry.list_codebases() == ["hello"]


def test_names_are_data_not_sql(registry: Registry):
    name = "x'); DROP TABLE codebase; --?%s"
    assert registry.add_codebase(name)
    assert registry.codebase_exists(name)
    assert registry.list_codebases() == [name]


def test_workers(registry: Registry):
    assert registry.worker_password_hash("alice") is None
    registry.add_worker("alice", HASH)
    registry.add_worker("bob", "other-hash", admin=True)
    assert registry.worker_password_hash("alice") == HASH
    assert registry.list_workers() == [WorkerInfo("alice", False), WorkerInfo("bob", True)]
    assert not registry.is_admin("alice")
    assert registry.is_admin("bob")
    assert not registry.is_admin("nobody")


def test_adding_an_existing_worker_is_refused_and_changes_nothing(registry: Registry):
    registry.add_worker("alice", HASH)
    with pytest.raises(WorkerExists, match="alice"):
        registry.add_worker("alice", "new-hash", admin=True)
    assert registry.worker_password_hash("alice") == HASH
    assert not registry.is_admin("alice")
    assert issubclass(WorkerExists, RegistryError)


def test_password_and_admin_changes(registry: Registry):
    registry.add_worker("alice", HASH)
    assert registry.set_worker_password("alice", "new-hash") is True
    assert registry.worker_password_hash("alice") == "new-hash"
    assert registry.set_worker_admin("alice", True) is True
    assert registry.set_worker_admin("alice", True) is True  # idempotent
    assert registry.is_admin("alice")
    assert registry.set_worker_admin("alice", False) is True
    assert not registry.is_admin("alice")
    assert registry.set_worker_password("nobody", "h") is False
    assert registry.set_worker_admin("nobody", True) is False
    assert not registry.is_admin("nobody")


def test_remove_worker_takes_its_admin_flag(registry: Registry):
    registry.add_worker("alice", HASH, admin=True)
    assert registry.remove_worker("alice") is True
    assert registry.remove_worker("alice") is False
    assert registry.worker_password_hash("alice") is None
    registry.add_worker("alice", HASH)
    assert not registry.is_admin("alice")
    assert registry.list_workers() == [WorkerInfo("alice", False)]


def test_stale_admin_row_grants_nothing(registry: Registry, settings: Settings):
    # A worker removed by another program (Janitor) leaves our admin row behind.
    registry.add_worker("alice", HASH, admin=True)
    raw_execute(settings, "DELETE FROM worker WHERE name = 'alice'")
    assert not registry.is_admin("alice")
    assert registry.list_workers() == []
    registry.add_worker("alice", HASH)
    assert not registry.is_admin("alice")


def test_upgrade_schema_is_idempotent_and_keeps_data(registry: Registry, settings: Settings):
    registry.add_codebase("hello")
    registry.add_worker("alice", HASH, admin=True)
    registry.upgrade_schema()
    again = open_registry(settings)
    try:
        again.upgrade_schema()
        assert again.list_codebases() == ["hello"]
        assert again.worker_password_hash("alice") == HASH
        assert again.is_admin("alice")
    finally:
        again.close()


def test_existing_tables_with_more_columns_are_used_as_they_are(fresh_settings: Settings):
    settings = fresh_settings
    raw_execute(
        settings,
        "CREATE TABLE codebase (name TEXT NOT NULL UNIQUE, branch_url TEXT, value INTEGER,"
        " inactive BOOLEAN NOT NULL DEFAULT FALSE)",
        "INSERT INTO codebase (name, branch_url, value) VALUES ('hello', 'https://h', 3)",
        "CREATE TABLE worker (name TEXT NOT NULL UNIQUE, password TEXT NOT NULL, link TEXT)",
        f"INSERT INTO worker (name, password, link) VALUES ('w1', '{HASH}', 'https://w1')",
    )
    registry = open_registry(settings)
    try:
        registry.upgrade_schema()
        assert registry.list_codebases() == ["hello"]
        assert registry.add_codebase("zsh")
        assert registry.worker_password_hash("w1") == HASH
        registry.add_worker("w2", HASH, admin=True)
        assert registry.list_workers() == [WorkerInfo("w1", False), WorkerInfo("w2", True)]
    finally:
        registry.close()
    rows = raw_execute(settings, "SELECT name, branch_url, value FROM codebase ORDER BY name")
    assert rows == [("hello", "https://h", 3), ("zsh", None, None)]
    assert raw_execute(settings, "SELECT link FROM worker WHERE name = 'w1'") == [("https://w1",)]


def test_janitor_database_with_pgcrypto_hash(postgres_schema_url: str, tmp_path: Path):
    import psycopg

    with psycopg.connect(postgres_schema_url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        except psycopg.Error as exc:
            pytest.skip(f"pgcrypto extension not available: {exc}")
        # Wherever pgcrypto lives (maybe outside our search_path), call it by schema.
        (schema,) = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n"
            " ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'"
        ).fetchone()
        conn.execute(
            "CREATE TABLE codebase (name text not null unique, branch_url text, url text,"
            " branch text, subpath text, vcs_type text, vcs_last_revision text,"
            " value integer, inactive boolean not null default false, web_url text)"
        )
        conn.execute("INSERT INTO codebase (name, branch_url, vcs_type)"
                     " VALUES ('hello', 'https://example.com/hello', 'bzr')")
        conn.execute("CREATE TABLE worker (name text not null unique,"
                     " password text not null, link text)")
        conn.execute(
            f'INSERT INTO worker (name, password, link) VALUES (%s, "{schema}".crypt(%s,'
            f' "{schema}".gen_salt(\'bf\')), %s)',
            ("janitor-worker", "s3cret", "https://janitor.example/worker"),
        )
    settings = load_settings(environ={}, data=tmp_path / "data", database_url=postgres_schema_url)
    registry = open_registry(settings)
    try:
        registry.upgrade_schema()
        assert registry.list_codebases() == ["hello"]
        assert registry.worker_password_hash("janitor-worker").startswith("$2a$")
        authenticator = Authenticator(registry, ttl_seconds=60)
        assert authenticator.authenticate("janitor-worker", "s3cret")
        assert not authenticator.authenticate("janitor-worker", "wrong")
        registry.add_worker("ours", hash_password("pw", rounds=4), admin=True)
        assert authenticator.authenticate("ours", "pw")
        assert registry.is_admin("ours") and not registry.is_admin("janitor-worker")
    finally:
        registry.close()
    with psycopg.connect(postgres_schema_url) as conn:
        assert conn.execute("SELECT branch_url, vcs_type, inactive FROM codebase").fetchall() == [
            ("https://example.com/hello", "bzr", False)
        ]
        assert conn.execute("SELECT link FROM worker WHERE name = 'janitor-worker'").fetchone() \
            == ("https://janitor.example/worker",)


def test_role_without_create_privilege_uses_existing_tables(postgres_schema_url: str,
                                                            tmp_path: Path):
    import psycopg

    schema = postgres_schema_url.rpartition("%3D")[2]
    role = f"r_{secrets.token_hex(6)}"
    owner = load_settings(environ={}, data=tmp_path, database_url=postgres_schema_url)
    open_registry(owner).upgrade_schema()
    try:
        raw_execute(owner, f"CREATE ROLE {role} LOGIN",
                    f"GRANT USAGE ON SCHEMA {schema} TO {role}",
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema}"
                    f" TO {role}")
    except psycopg.Error as exc:
        pytest.skip(f"cannot create a test role: {exc}")
    parts = urlsplit(postgres_schema_url)
    url = urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))
    registry = PostgresRegistry(url, 1)
    try:
        registry.upgrade_schema()
        assert registry.add_codebase("hello")
        registry.add_worker("alice", HASH, admin=True)
        assert registry.is_admin("alice")
    finally:
        registry.close()
        raw_execute(owner, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_ping(registry: Registry):
    registry.ping()


def test_sqlite_unreachable_is_unavailable(tmp_path: Path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    registry = open_registry(load_settings(environ={}, data=blocker / "data"))
    with pytest.raises(RegistryUnavailable):
        registry.ping()
    with pytest.raises(RegistryUnavailable):
        registry.codebase_exists("hello")
    assert issubclass(RegistryUnavailable, RegistryError)


def test_sqlite_commits_in_wal_without_a_sync_per_commit(tmp_path: Path):
    registry = open_registry(load_settings(environ={}, data=tmp_path / "data"))
    try:
        with registry._transaction() as run:
            assert run("PRAGMA journal_mode").fetchone() == ("wal",)
            assert run("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        registry.close()


def test_sqlite_switch_to_wal_waits_for_another_connections_write(tmp_path: Path):
    # A new file is in rollback-journal mode; while another connection holds its write
    # lock, SQLite refuses the switch to WAL at once (no busy handler). The registry
    # must wait for that writer, as it waits for any other, not fail.
    path = tmp_path / "registry.sqlite"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, writer.execute, ("COMMIT",))
    release.start()
    registry = SQLiteRegistry(path)
    try:
        started = time.monotonic()
        assert registry.upgrade_schema()
        assert time.monotonic() - started >= 0.25
        with registry._transaction() as run:
            assert run("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        release.join()
        writer.close()
        registry.close()


def test_postgres_unreachable_is_unavailable():
    # Port 1 on localhost refuses at once; the short pool timeout keeps the test quick.
    registry = PostgresRegistry("postgresql://nobody@127.0.0.1:1/none", 1, timeout_seconds=0.5)
    try:
        with pytest.raises(RegistryUnavailable, match="PostgreSQL"):
            registry.ping()
    finally:
        registry.close()


# Long enough for psycopg_pool's reconnection back-off to reach 8 s steps.
OUTAGE_SECONDS = 12.0


@pytest.mark.e2e  # a real TCP proxy in front of PostgreSQL, cut for 12 s
def test_postgres_heals_at_once_after_an_outage(postgres_schema_url: str):
    parts = urlsplit(postgres_schema_url)
    proxy = TcpProxy((parts.hostname, parts.port)).start()
    proxied = url_through(postgres_schema_url, proxy.port)
    registry = PostgresRegistry(proxied, 2, timeout_seconds=3)
    try:
        registry.upgrade_schema()
        proxy.cut()
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            started = time.monotonic()
            with pytest.raises(RegistryUnavailable):
                registry.ping()
            assert time.monotonic() - started < 3.5  # a dead database answers quickly
        proxy.restore()
        started = time.monotonic()
        registry.ping()
        assert time.monotonic() - started < 1.0
    finally:
        registry.close()
        proxy.stop()


def test_close_then_use_reconnects(registry: Registry):
    registry.add_codebase("hello")
    registry.close()
    assert registry.codebase_exists("hello")


def test_threads_share_a_registry(registry: Registry):
    errors: list[BaseException] = []

    def add_many(thread: int) -> None:
        try:
            for i in range(10):
                registry.add_codebase(f"cb{thread}-{i}")
        except BaseException as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=add_many, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(registry.list_codebases()) == 40


@pytest.mark.e2e  # forks a child process
def test_forked_child_uses_its_own_connection(registry: Registry):
    # Like gunicorn: the parent has used the registry before the fork.
    registry.add_codebase("parent")
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = registry.codebase_exists("parent") and registry.add_codebase("child")
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert registry.list_codebases() == ["child", "parent"]


def test_page_codebases_filters_orders_and_counts(registry):
    names = ["a-1", "a.2", "a+3", "b_x", "bx", "zeta", "a%z"]
    for name in names:
        registry.add_codebase(name)
    page, total = registry.page_codebases("", limit=3, offset=0)
    assert (page, total) == (sorted(names)[:3], len(names))
    assert registry.page_codebases("", limit=3, offset=6) == ([sorted(names)[6]], len(names))
    # LIKE wildcards in the filter are literal characters.
    assert registry.page_codebases("_", limit=10, offset=0) == (["b_x"], 1)
    assert registry.page_codebases("%", limit=10, offset=0) == (["a%z"], 1)
    assert registry.page_codebases("A", limit=10, offset=0)[1] == 5  # a-1 a.2 a+3 a%z zeta


def test_push_log_and_codebase_activity(registry):
    from bzrstore.registry.branches import BranchTip, Push

    for name in ("alpha", "beta"):
        registry.add_codebase(name)
    for when, path, worker in ((10.0, "c/main", "w1"), (20.0, "c/main", "w2"),
                               (15.0, "d/main", "w1")):
        tip = BranchTip(path, int(when), f"rev-{when}", None, None, None)
        registry.record_push(Push("alpha", path, 0, "null:", int(when), f"rev-{when}",
                                  worker, when), tip)
    activity = registry.codebase_activity(["beta", "alpha"])
    assert [(a.name, a.branches, a.last_push_at, a.last_worker) for a in activity] == [
        ("beta", 0, None, None), ("alpha", 2, 20.0, "w2")]
    assert [p.pushed_at for p in registry.recent_pushes("alpha", limit=2)] == [20.0, 15.0]
    assert [t.revno for t in registry.list_branches("alpha")] == [20, 15]
