"""Janitor compatibility tier: a store served as Janitor deploys it, and a Janitor-like worker.

The store runs under gunicorn with a public listener (credentials to write) and, when
the server supports it, an internal listener (``BZRSTORE_INTERNAL_BIND``: writes without
credentials, Janitor's port 9929). The worker does in-process what Janitor's worker does
through breezyshim (``worker/src/vcs.rs``): open or create the target control directory,
``push_branch`` with a revision and ``overwrite``, then tag the pushed branch.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import breezy.bzr.bzrdir  # noqa: F401  (registers the bzr formats and the default one)
import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir
from breezy.errors import NotBranchError

from helpers import POSTGRES_URL_ENV, WORKER, make_branch, run_cli, starts_processes
from nginx import free_port
from postgres import postgres_schema
from servers import BIN, TEST_GUNICORN_CONF, Gunicorn

CODEBASE = "foo"
CAMPAIGN = "campaign"
# Janitor's cache branch for Debian: runner.py's "%s/latest" % vendor.
CACHE_BRANCH = "debian/latest"
INTERNAL_BIND_ENV = "BZRSTORE_INTERNAL_BIND"


@dataclass
class JanitorStore:
    """A running bzrstore with a public and (if supported) an internal listener."""

    server: Gunicorn
    data: Path
    env: dict[str, str]
    internal_port: int

    @property
    def url(self) -> str:
        """The public listener's base URL."""
        return self.server.url

    @property
    def internal_url(self) -> str:
        """The internal listener's base URL (Janitor's ``http://bzr-store:9929``)."""
        return f"http://127.0.0.1:{self.internal_port}"

    def internal_listens(self) -> bool:
        """Whether anything answers on the internal listener."""
        try:
            with urllib.request.urlopen(self.internal_url + "/health", timeout=5):
                return True
        except (urllib.error.HTTPError, urllib.error.URLError, OSError):
            return False


def start_store(request: pytest.FixtureRequest, stack: ExitStack, root: Path,
                backend: str) -> JanitorStore:
    """Start bzrstore with codebase ``foo`` and the test worker on ``backend``."""
    database_url = ""
    if backend == "postgresql":
        url = os.environ.get(POSTGRES_URL_ENV)
        if not url:
            pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL tests skipped")
        database_url = stack.enter_context(postgres_schema(url))
    data = root / "data"
    public_port, internal_port = free_port(), free_port()
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": database_url,
           "GUNICORN_ACCESSLOG": str(root / "access.log"),
           INTERNAL_BIND_ENV: f"127.0.0.1:{internal_port}",
           # Janitor's campaigns, as janitor.conf lists them, and the cache branch's vendor.
           "BZRSTORE_CAMPAIGNS": f"{CAMPAIGN},debian"}
    if database_url:  # the schema is the operator's step on PostgreSQL
        run_cli(env, "db", "upgrade")
    run_cli(env, "codebase", "add", CODEBASE)
    run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
    # The public port is fixed too: with two binds, "Listening at" names both.
    command = [str(BIN / "gunicorn"), "-c", str(TEST_GUNICORN_CONF),
               "--bind", f"127.0.0.1:{public_port}", "--workers", "2"]
    server = Gunicorn(env, root / "gunicorn.log", command=command, port=public_port).start()
    stack.callback(server.stop)
    return JanitorStore(server, data, env, internal_port)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
@starts_processes
def janitor_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[JanitorStore]:
    """bzrstore serving codebase ``foo`` on each registry backend, both listeners asked for."""
    with ExitStack() as stack:
        yield start_store(request, stack, tmp_path_factory.mktemp("janitor"), request.param)


@pytest.fixture
def internal(janitor_store: JanitorStore) -> str:
    """The internal listener's URL; the test fails when nothing listens there."""
    assert janitor_store.internal_listens(), f"nothing listens on {INTERNAL_BIND_ENV}"
    return janitor_store.internal_url


# --- the worker: what Janitor's worker/src/vcs.rs does, through Breezy in-process --------

@dataclass
class WorkerRun:
    """A local branch with a few revisions and tags, as a Janitor run leaves it."""

    branch: Branch
    revids: list[str]
    tags: dict[str, str]


def write_debian_files(path: Path, n: int) -> None:
    """Revision ``n`` of a packaging branch: a longer changelog and a new file."""
    (path / "debian").mkdir(exist_ok=True)
    (path / "debian" / "changelog").write_text(f"foo (1.{n}-1) unstable\n" * (n + 1))
    (path / f"f{n}.txt").write_text(f"revision {n}\n")


def make_run(path: Path, revisions: int = 3) -> WorkerRun:
    """A working tree with ``revisions`` commits and tags (``upstream/…``, ``debian/…``, other)."""
    tree, revids = make_branch(path, revisions, write_debian_files)
    tags = {"upstream/1.0": revids[0], f"debian/1.{revisions - 1}-1": revids[-1],
            "other": revids[-1]}
    for name, revid in tags.items():
        tree.branch.tags.set_tag(name, revid.encode())
    return WorkerRun(tree.branch, revids, tags)


def push_branch(source: Branch, url: str, revid: str, overwrite: bool = True,
                tag_selector: Callable[[str], bool] | None = None) -> None:
    """``push_branch`` of Janitor's worker: open the target, or create it, and push."""
    try:
        target = ControlDir.open(url)
    except NotBranchError:
        target = ControlDir.create(url, format=source.controldir.cloning_metadir())
    target.push_branch(source, revision_id=revid.encode(), overwrite=overwrite,
                       tag_selector=tag_selector)


def push_result(repo_url: str, run: WorkerRun, roles: dict[str, str], log_id: str) -> None:
    """Push each role to ``<repo_url>/<campaign>/<role>`` and tag it as ``import_branches_bzr``."""
    for role, revid in roles.items():
        url = f"{repo_url}/{CAMPAIGN}/{role}"
        push_branch(run.branch, url, revid)
        target = Branch.open(url)
        target.tags.set_tag(log_id, revid.encode())
        graph = target.repository.get_graph()
        for name, tagged in run.tags.items():
            if graph.is_ancestor(tagged.encode(), target.last_revision()):
                target.tags.set_tag(f"{log_id}/{name}", tagged.encode())
                target.tags.set_tag(name, tagged.encode())


def push_cache(repo_url: str, run: WorkerRun, vendor: str = "debian") -> None:
    """Push the packaging branch cache to ``<repo_url>/<vendor>/latest`` (worker/src/lib.rs)."""

    def selector(name: str) -> bool:
        return name.startswith(f"{vendor}/") or name.startswith("upstream/")

    push_branch(run.branch, f"{repo_url}/{vendor}/latest", run.revids[-1], tag_selector=selector)


def tip_and_tags(url: str) -> tuple[str, dict[str, str]]:
    """A branch's tip and tags, read anonymously."""
    branch = Branch.open(url)
    tags = {name: revid.decode() for name, revid in branch.tags.get_tag_dict().items()}
    return branch.last_revision().decode(), tags


@pytest.fixture
def worker_run(tmp_path: Path) -> WorkerRun:
    """A fresh local run branch (3 revisions, tags)."""
    return make_run(tmp_path / "run")


@pytest.fixture
def worker() -> dict[str, Callable]:
    """The worker's operations, for test modules (which cannot import this conftest)."""
    return {"push_result": push_result, "push_cache": push_cache, "push_branch": push_branch,
            "tip_and_tags": tip_and_tags, "make_run": make_run}
