"""Test helpers that are not fixtures: apps and their data, credentials, URLs, the CLI."""

from __future__ import annotations

import base64
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import breezy.bzr.bzrdir  # noqa: F401  (registers the bzr formats and the default one)
from breezy.controldir import ControlDir

from bzrstore import create_app
from bzrstore.auth import hash_password
from bzrstore.config import Settings, load_settings
from servers import BIN, Gunicorn

if TYPE_CHECKING:
    from flask import Flask
    from webtest import TestApp

    from bzrstore.store import Store

# The branch make_browse_history writes in codebase alpha, as browse URLs start.
BROWSED_BRANCH = "/bzr/alpha/main/trunk/-"
POSTGRES_URL_ENV = "BZRSTORE_TEST_POSTGRES_URL"

WORKER = ("worker", "secret")
ADMIN = ("boss", "secret")
COMMITTER = "Test Worker <worker@example.com>"
SEEDED_CODEBASES = ("alpha", "beta")
# bcrypt's cheapest cost: the tests check who may log in, not how slowly.
TEST_BCRYPT_ROUNDS = 4

F = TypeVar("F", bound=Callable[..., Any])


# Tests fetch expensive pages by the dozen from one address: the page budget is off but
# where a test turns it on (tests/web/test_budget*.py).
NO_PAGE_BUDGET = {"page_budget": 0}


def make_app(data: Path, **overrides: Any) -> Flask:
    """``create_app`` on the SQLite registry under ``data``, ignoring the environment."""
    return create_app(load_settings(environ={}, data=data, **{**NO_PAGE_BUDGET, **overrides}))


def store_of(app: Flask) -> Store:
    """The Store behind ``app`` (what ``current_app`` reaches in a request)."""
    return app.extensions["bzrstore"]


def seed(app: Flask) -> Flask:
    """Register codebases alpha and beta, worker ``worker`` and admin ``boss`` (``secret``)."""
    registry = store_of(app).registry
    for name in SEEDED_CODEBASES:
        registry.add_codebase(name)
    registry.add_worker(WORKER[0], hash_password(WORKER[1], rounds=TEST_BCRYPT_ROUNDS))
    registry.add_worker(ADMIN[0], hash_password(ADMIN[1], rounds=TEST_BCRYPT_ROUNDS),
                        admin=True)
    return app


def write_tree_files(path: Path, n: int) -> None:
    """What revision ``n`` of ``make_branch`` changes: a growing file and a new one."""
    (path / "dir").mkdir(exist_ok=True)
    (path / "dir" / "file.txt").write_text(f"line {n}\n" * (n + 1))
    (path / f"f{n}.txt").write_text(f"revision {n}\n")


def make_branch(path: Path, revisions: int = 3,
                write_files: Callable[[Path, int], None] = write_tree_files
                ) -> tuple[Any, list[str]]:
    """A standalone branch with ``revisions`` commits, in-process (as ``Brz.make_branch``).

    ``write_files(path, n)`` changes the tree before commit ``n``. Returns the working
    tree and its revision ids, oldest first.
    """
    tree = ControlDir.create_standalone_workingtree(str(path))
    revids = []
    for n in range(revisions):
        write_files(path, n)
        tree.smart_add([str(path)])
        revids.append(tree.commit(f"commit {n}", committer=COMMITTER).decode())
    return tree, revids


def push_branch(branch: Any, target: Path) -> None:
    """``brz push --create-prefix`` in-process: a new branch at ``target`` with the history."""
    target.parent.mkdir(parents=True, exist_ok=True)
    branch.push(ControlDir.create_branch_convenience(str(target), force_new_tree=False))


def starts_processes(fixture: F) -> F:
    """Mark a fixture function as starting a real server or process (its tests are ``e2e``).

    Put it under ``@pytest.fixture``; ``conftest.py`` marks every test that uses the
    fixture, directly or through another, with ``e2e``.
    """
    fixture.starts_processes = True  # type: ignore[attr-defined]
    return fixture


def basic(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic ``Authorization`` header."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def as_worker(url: str) -> str:
    """``url`` with the worker's credentials in it, as Janitor pushes."""
    user, password = WORKER
    return url.replace("://", f"://{user}:{password}@", 1)


E2E_CODEBASES = ("alpha",)


@dataclass
class StoreServer:
    """A running bzrstore: its URL, data directory and a worker's credentials."""

    server: Gunicorn
    data: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        """The server's base URL (``http://127.0.0.1:PORT``)."""
        return self.server.url

    @property
    def repos(self) -> Path:
        """The directory holding one shared repository per codebase."""
        return self.data / "repos"

    def reader_url(self, path: str, prefix: str = "/bzr/") -> str:
        """Anonymous URL of ``<cb>/<path>``."""
        return f"{self.url}{prefix}{path}"

    def writer_url(self, path: str, prefix: str = "/bzr/") -> str:
        """URL of ``<cb>/<path>`` with the worker's credentials in it, as Janitor pushes."""
        return as_worker(self.reader_url(path, prefix))


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run the installed ``bzrstore`` command; fail the test if it fails."""
    result = subprocess.run([str(BIN / "bzrstore"), *args], env=env, input=stdin,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def post_status(url: str, body: bytes) -> int:
    """POST ``body`` to ``url``; the response's status, an error's included."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body)) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def raw_execute(settings: Settings, *statements: str) -> list[tuple]:
    """Run SQL outside the registry, as another program would; return the last rows."""
    rows: list[tuple] = []
    if settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            for statement in statements:
                cursor = conn.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
        return rows
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        for statement in statements:
            rows = conn.execute(statement).fetchall()
    finally:
        conn.close()
    return rows


def point_environment(monkeypatch: Any, settings: Settings) -> Settings:
    """Make the environment name ``settings``' data directory and database; return them."""
    monkeypatch.setenv("BZRSTORE_DATA", str(settings.data))
    if settings.database_url:
        monkeypatch.setenv("BZRSTORE_DATABASE_URL", settings.database_url)
    return settings


# What browse tests read: a text file changed in every revision, nested directories, an
# executable, a symlink, a binary, an empty file, one without a final newline and a
# non-ASCII name.
BROWSE_BINARY = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256))


def write_browse_files(path: Path, n: int) -> None:
    """What revision ``n`` of a browse fixture changes (pass it to ``make_branch``)."""
    (path / "src" / "lib").mkdir(parents=True, exist_ok=True)
    lines = ["# the main program", *(f"print({i})" for i in range(n + 1))]
    (path / "src" / "main.py").write_text("\n".join(lines) + "\n")
    (path / "src" / "main.py").chmod(0o755)
    (path / "README.txt").write_text(f"hello\nrevision {n}\nbye\n")
    if n == 0:
        (path / "src" / "lib" / "util.py").write_text("def util():\n    return 1\n")
        (path / "data.bin").write_bytes(BROWSE_BINARY)
        (path / "empty.txt").write_bytes(b"")
        (path / "no-newline.txt").write_bytes(b"one\ntwo")
        (path / "ünïcode näme.txt").write_text("ça va\n")
        (path / "link").symlink_to("README.txt")


@dataclass
class Browsing:
    """The seeded app with alpha's main/trunk (r1..r4, r3 merging s1, s2) and its revisions."""

    web: TestApp
    revs: dict[str, str]

    @property
    def data(self) -> Path:
        return store_of(self.web.app).settings.data

    def url(self, view: str, name: str) -> str:
        """The URL of ``view`` for the revision called ``name`` (or a spec as it is)."""
        return f"{BROWSED_BRANCH}/{view}/{quote(self.revs.get(name, name), safe='@+')}"


def make_browse_history(codebase_dir: Path, branch: str = "main/trunk") -> dict[str, str]:
    """A shared repository at ``codebase_dir`` whose ``branch`` has r1..r4, r3 merging s1, s2.

    Files: ``hello.py``, ``README``, ``dir/a.txt``, binary ``data.bin``; s2's revision id
    holds a ``/`` and a ``+``; tags ``v1.0`` (r2) and ``latest`` (r4). Returns the
    revision ids by name (r1 … r4, s1, s2).
    """
    from bzrstore.repos.storage import create_shared_repository

    create_shared_repository(codebase_dir)
    (codebase_dir / branch).parent.mkdir(parents=True, exist_ok=True)
    trunk = ControlDir.create_branch_convenience(str(codebase_dir / branch),
                                                 force_new_tree=False)
    work_dir = codebase_dir.parent / f"{codebase_dir.name}-work"
    work = trunk.create_checkout(str(work_dir), lightweight=True)
    revs: dict[str, str] = {}

    def commit(tree: Any, name: str, message: str, rev_id: bytes | None = None) -> None:
        revs[name] = tree.commit(message, committer=COMMITTER, rev_id=rev_id,
                                 timestamp=1_700_000_000 + 3600 * len(revs),
                                 timezone=3600).decode()

    (work_dir / "dir").mkdir()
    (work_dir / "hello.py").write_text('def hello():\n    return "hello"\n')
    (work_dir / "README").write_text("A test branch.\n")
    (work_dir / "dir" / "a.txt").write_text("alpha\nbeta\n")
    (work_dir / "data.bin").write_bytes(bytes(range(256)))
    work.add(["hello.py", "README", "dir", "dir/a.txt", "data.bin"])
    commit(work, "r1", "initial import\n\nWith a <b>body</b>.")
    (work_dir / "hello.py").write_text('def hello():\n    return "hello, world"\n\n\nX = 1\n')
    commit(work, "r2", "say more")
    side = trunk.controldir.sprout(str(codebase_dir / "main" / "side")).open_branch()
    side_dir = codebase_dir.parent / f"{codebase_dir.name}-side"
    side_work = side.create_checkout(str(side_dir), lightweight=True)
    (side_dir / "dir" / "a.txt").write_text("alpha\nbeta\ngamma\n")
    commit(side_work, "s1", "side: gamma")
    (side_dir / "side.txt").write_text("from the side\n")
    side_work.add(["side.txt"])
    commit(side_work, "s2", "side: a file", b"side/two+more")
    work.merge_from_branch(side)
    commit(work, "r3", "merge the side")
    (work_dir / "README").write_text("A test branch.\nNow longer.\n")
    commit(work, "r4", "longer README")
    trunk.tags.set_tag("v1.0", revs["r2"].encode())
    trunk.tags.set_tag("latest", revs["r4"].encode())
    return revs


class WallClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Browsed:
    """A standalone branch of three revisions written by ``write_browse_files``."""

    repository: Any
    revids: list[bytes]
