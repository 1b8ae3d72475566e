"""Worker hashes through pgcrypto, as the rest of Janitor checks them (PostgreSQL only).

Janitor's runner and site verify a worker with
``select 1 from worker where name = $1 AND password = crypt($2, password)``; its
operators make workers with ``crypt(pw, gen_salt('bf'))``. Both directions must hold.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import bcrypt
import psycopg
import pytest

from bzrstore import cli
from bzrstore.auth import Authenticator
from bzrstore.config import DEFAULT_BCRYPT_COST, load_settings
from bzrstore.registry import Registry, open_registry

PASSWORDS = ["s3cret pass", "pässwörd ☃", "x" * 72]


def install_pgcrypto(conn: psycopg.Connection) -> str:
    """Create pgcrypto in the database if it is missing; the schema that holds it."""
    for attempt in (1, 2):
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
            break
        except psycopg.errors.UniqueViolation:  # another test run created it meanwhile
            if attempt == 2:
                raise
    row = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension"
                       " WHERE extname = 'pgcrypto'").fetchone()
    return row[0]


@pytest.fixture
def database(postgres_url: str, postgres_schema_url: str) -> Iterator[tuple[Registry, Any]]:
    """A registry in a throwaway schema, and ``sql(statement, params)`` in its search path.

    pgcrypto lives in its own schema of the database (one per database), so its
    functions are written ``pgcrypto.crypt``, replaced by that schema's name.
    """
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        extension_schema = install_pgcrypto(conn)
    registry = open_registry(load_settings(environ={}, database_url=postgres_schema_url))
    registry.upgrade_schema()
    with psycopg.connect(postgres_schema_url, autocommit=True) as conn:
        def sql(statement: str, params: tuple[Any, ...] = ()) -> Any:
            statement = statement.replace("pgcrypto.", f'"{extension_schema}".')
            return conn.execute(statement, params).fetchone()

        yield registry, sql
    registry.close()


def janitor_accepts(sql: Any, name: str, password: str) -> bool:
    """Janitor's own worker check (py/janitor/worker_creds.py), through pgcrypto."""
    return sql("SELECT 1 FROM worker WHERE name = %s AND password = pgcrypto.crypt(%s, password)",
               (name, password)) is not None


@pytest.mark.parametrize("password", PASSWORDS)
def test_janitor_accepts_a_worker_bzrstore_added(database, password: str, monkeypatch,
                                                 postgres_schema_url: str, capsys):
    registry, sql = database
    monkeypatch.setenv("BZRSTORE_DATABASE_URL", postgres_schema_url)
    monkeypatch.delenv("BZRSTORE_BCRYPT_COST", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert cli.main(["worker", "add", "alice"]) == 0, capsys.readouterr()
    stored = registry.worker_password_hash("alice")
    assert stored.startswith(f"$2a${DEFAULT_BCRYPT_COST:02d}$")
    assert sql("SELECT pgcrypto.crypt(%s, %s) = %s", (password, stored, stored)) == (True,)
    assert janitor_accepts(sql, "alice", password)
    assert not janitor_accepts(sql, "alice", password[:-1])


def test_the_issue_a_2b_hash_is_not_bcrypt_to_pgcrypto(database):
    # What bzrstore wrote before: pgcrypto reads "$2b$…" as a DES salt and never matches.
    _, sql = database
    stored = bcrypt.hashpw(b"pw", bcrypt.gensalt(4, prefix=b"2b")).decode()
    (answer,) = sql("SELECT pgcrypto.crypt('pw', %s)", (stored,))
    assert answer != stored and len(answer) == 13  # a DES hash: "$2" taken for its salt


@pytest.mark.parametrize("salt", ["pgcrypto.gen_salt('bf')", "pgcrypto.gen_salt('bf', 8)"])
@pytest.mark.parametrize("password", PASSWORDS)
def test_bzrstore_verifies_a_worker_janitor_added(database, salt: str, password: str):
    registry, sql = database
    sql(f"INSERT INTO worker (name, password) VALUES ('pg', pgcrypto.crypt(%s, {salt}))"
        " RETURNING password", (password,))
    assert registry.worker_password_hash("pg").startswith("$2a$")
    authenticator = Authenticator(registry, 0, reference_rounds=8)
    assert authenticator.authenticate("pg", password)
    assert not authenticator.authenticate("pg", password[:-1])
