"""Worker passwords shared with the rest of Janitor through PostgreSQL's pgcrypto.

Janitor's runner and site check a worker with ``py/janitor/worker_creds.py``'s query,
and create one with ``src/auth/basic.rs``'s ``crypt($2, gen_salt('bf'))``. A worker
that ``bzrstore worker add|passwd`` wrote must pass the first, and one Janitor wrote
must log in to bzrstore.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bzrstore.auth import Authenticator
from bzrstore.config import load_settings
from bzrstore.registry import open_registry
from helpers import run_cli

# worker_creds.is_worker, with psycopg's placeholders for asyncpg's $1, $2.
RUNNER_QUERY = "select 1 from worker where name = %s AND password = crypt(%s, password)"
# src/auth/basic.rs, creating a worker.
JANITOR_INSERT = "INSERT INTO worker (name, password) VALUES (%s, crypt(%s, gen_salt('bf')))"


@pytest.fixture
def env(postgres_schema_url: str, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment on a fresh PostgreSQL schema with bzrstore's tables."""
    env = {**os.environ, "BZRSTORE_DATA": str(tmp_path / "data"),
           "BZRSTORE_DATABASE_URL": postgres_schema_url}
    run_cli(env, "db", "upgrade")  # the operator's step on PostgreSQL
    run_cli(env, "codebase", "add", "foo")
    return env


@pytest.fixture
def janitor_db(postgres_schema_url: str) -> Iterator[psycopg.Connection]:
    """A connection as Janitor's services have it: the schema, and pgcrypto on the path."""
    with psycopg.connect(postgres_schema_url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public")
        except psycopg.errors.UniqueViolation:  # another test created it just now
            pass
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        conn.execute(f"SET search_path TO {schema}, public")
        yield conn


def runner_accepts(conn: psycopg.Connection, name: str, password: str) -> bool:
    """Janitor's runner's answer for these Basic credentials."""
    return conn.execute(RUNNER_QUERY, (name, password)).fetchone() is not None


def test_runner_accepts_worker_bzrstore_added(env, janitor_db):
    run_cli(env, "worker", "add", "w1", stdin="s3cret\n")
    (stored,) = janitor_db.execute("SELECT password FROM worker WHERE name = 'w1'").fetchone()
    assert stored.startswith("$2a$")
    assert janitor_db.execute("SELECT crypt(%s, %s) = %s", ("s3cret", stored, stored)
                              ).fetchone()[0]
    assert runner_accepts(janitor_db, "w1", "s3cret")
    assert not runner_accepts(janitor_db, "w1", "wrong")


def test_runner_accepts_worker_bzrstore_passwd(env, janitor_db):
    run_cli(env, "worker", "add", "w2", stdin="old-secret\n")
    run_cli(env, "worker", "passwd", "w2", stdin="new-secret\n")
    assert runner_accepts(janitor_db, "w2", "new-secret")
    assert not runner_accepts(janitor_db, "w2", "old-secret")


def test_bzrstore_accepts_worker_janitor_added(env, janitor_db, postgres_schema_url, tmp_path):
    """A worker created by Janitor (pgcrypto's ``gen_salt('bf')``) logs in to bzrstore."""
    janitor_db.execute(JANITOR_INSERT, ("jw", "janitor-secret"))
    settings = load_settings(environ={}, data=tmp_path / "data",
                             database_url=postgres_schema_url)
    registry = open_registry(settings)
    try:
        auth = Authenticator(registry, ttl_seconds=0)
        assert auth.authenticate("jw", "janitor-secret")
        assert not auth.authenticate("jw", "wrong")
    finally:
        registry.close()
