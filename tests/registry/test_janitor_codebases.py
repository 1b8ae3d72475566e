"""Janitor's own ``codebase`` table: NULL names skipped everywhere, its name domain.

Janitor's schema/state.sql: ``name codebase_name`` (a domain, ``SIMILAR TO
'[a-z0-9][a-z0-9+-.]+'``), nullable on purpose, ``unique(name)``, and
``check(name is not null or branch_url is not null)``: a codebase known only by its
branch URL has no name, and no repository in a store.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from webtest import TestApp

from bzrstore import cli, create_app
from bzrstore.auth import hash_password
from bzrstore.config import Settings
from bzrstore.registry import Registry, open_registry
from bzrstore.repos.names import CODEBASE_RE
from helpers import basic

JANITOR_DOMAIN = "[a-z0-9][a-z0-9+-.]+"
JANITOR_CODEBASE = (
    "CREATE TABLE codebase (name {name_type}, branch_url TEXT, url TEXT, branch TEXT,"
    " subpath TEXT, vcs_last_revision TEXT, web_url TEXT, value INT,"
    " inactive BOOLEAN NOT NULL DEFAULT false, UNIQUE (branch_url, subpath), UNIQUE (name),"
    " CHECK (name IS NOT NULL OR branch_url IS NOT NULL),"
    " CHECK ((branch_url IS NULL) = (url IS NULL)))"
)
ROWS = (
    "INSERT INTO codebase (name, branch_url, url) VALUES"
    " ('beta', NULL, NULL), (NULL, 'https://x.example/x.git', 'https://x.example/x.git'),"
    " ('alpha', 'https://x.example/alpha.git', 'https://x.example/alpha.git'),"
    " (NULL, 'https://x.example/y.git', 'https://x.example/y.git')"
)


def execute(settings: Settings, *statements: str) -> None:
    """Run SQL as Janitor would, outside the registry."""
    if settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def janitor(fresh_settings: Settings) -> Iterator[Registry]:
    """A registry on Janitor's codebase table: alpha, beta and two rows without a name."""
    if fresh_settings.database_url:
        execute(fresh_settings, f"CREATE DOMAIN codebase_name AS TEXT CHECK"
                          f" (value SIMILAR TO '{JANITOR_DOMAIN}')",
                JANITOR_CODEBASE.format(name_type="codebase_name"), ROWS)
    else:
        execute(fresh_settings, JANITOR_CODEBASE.format(name_type="TEXT"), ROWS)
    registry = open_registry(fresh_settings)
    registry.upgrade_schema()  # Janitor's table is kept as it is
    registry.add_worker("boss", hash_password("secret", rounds=4), admin=True)
    yield registry
    registry.close()


def test_registry_queries_skip_null_names(janitor: Registry):
    assert janitor.list_codebases() == ["alpha", "beta"]
    assert janitor.page_codebases("", 100, 0) == (["alpha", "beta"], 2)
    assert janitor.page_codebases("", 1, 1) == (["beta"], 2)
    assert janitor.page_codebases("a", 100, 0) == (["alpha", "beta"], 2)
    assert janitor.codebase_activity(["alpha"])[0].branches == 0


def test_web_skips_null_names(janitor: Registry, fresh_settings: Settings):
    # Old code: /repositories sorted None with the names, a 500.
    app = create_app(fresh_settings)
    try:
        web = TestApp(app)
        assert web.get("/repositories").json == ["alpha", "beta"]
        listing = web.get("/bzr/", headers={"Accept": "*/*"})
        assert listing.json == ["alpha", "beta"] and listing.headers["X-Total-Count"] == "2"
        assert web.get("/", headers={"Accept": "text/plain"}).text == "alpha\nbeta\n"
        page = web.get("/admin/", headers=basic("boss", "secret")).html
        assert page.select_one("h2").text == "Codebases (2)"
        rows = page.select("table#admin-codebases tbody tr")
        assert [row.select_one("td").text.strip() for row in rows] == ["alpha", "beta"]
    finally:
        app.extensions["bzrstore"].registry.close()


def test_command_line_skips_null_names(janitor: Registry, fresh_settings: Settings,
                                       monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("BZRSTORE_DATA", str(fresh_settings.data))
    monkeypatch.setenv("BZRSTORE_DATABASE_URL", fresh_settings.database_url)
    monkeypatch.delenv("BZRSTORE_CONFIG", raising=False)
    (fresh_settings.repos_dir / "beta" / ".bzr").mkdir(parents=True)

    def run(*argv: str) -> str:
        assert cli.main(list(argv)) == 0
        return capsys.readouterr().out

    assert run("codebase", "list") == "alpha\nbeta\n"
    assert run("codebase", "list", "--local") == "beta\n"
    placed = run("cluster", "place", "--node", "a:1", "--node", "b:2").splitlines()
    assert [line.split()[0] for line in placed] == ["alpha", "beta"]
    misplaced = run("cluster", "misplaced", "--self", "a:1", "--node", "a:1", "--node", "b:2")
    assert set(misplaced.split()) <= {"beta", "b:2"}


@pytest.mark.parametrize("name", [
    "a", "0ad", "g++-12", "python3.11", "foo,bar", "Foo", "-x", ".x", "a_b", "a b",
    "x" * 255, "x" * 256,
])
def test_names_are_janitors_domain_less_the_comma(postgres_url: str, name: str):
    # SPEC: Janitor's domain without the comma Breezy's URLs reserve for segment
    # parameters (",branch=…"), one to 255 characters (one directory name).
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (janitor_accepts,) = conn.execute("SELECT %s SIMILAR TO %s",
                                          (name, JANITOR_DOMAIN)).fetchone()
    ours = CODEBASE_RE.fullmatch(name) is not None
    # Janitor's '+' needs two characters; a one-character name is ours alone.
    assert ours == ((janitor_accepts and "," not in name and len(name) <= 255)
                    or re.fullmatch("[a-z0-9]", name) is not None)
