"""Two bzrstore nodes behind the shipped scale-out site (deploy/nginx/bzrstore-cluster.conf).

Each node is a real gunicorn with its own data directory; the registry is one
PostgreSQL schema shared by both, as in production; nginx routes by codebase with
``hash $codebase consistent``. Pushes and clones are the real ``brz`` over TLS.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import breezy.bzr.bzrdir  # noqa: F401 - registers the default (2a) format
import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir
from breezy.revision import NULL_REVISION

from bzrstore.node.ring import Ring
from helpers import POSTGRES_URL_ENV, WORKER, as_worker, run_cli
from nginx import CLUSTER_SITE, NGINX, Nginx, free_port, tls_context, trusting_brz
from postgres import postgres_schema
from servers import BIN, ROOT, Brz, Gunicorn

CODEBASES = tuple(f"cb{n:02d}" for n in range(20))
COMMITTER = "Test Worker <worker@example.com>"


@dataclass
class Node:
    """One bzrstore node: gunicorn on a fixed loopback port, its own data directory."""

    name: str
    env: dict[str, str]
    port: int
    server: Gunicorn | None = None

    @property
    def address(self) -> str:
        """The node as the nginx upstream names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def repos(self) -> Path:
        return Path(self.env["BZRSTORE_DATA"]) / "repos"

    def start(self) -> None:
        log = Path(self.env["BZRSTORE_DATA"]).parent / "gunicorn.log"
        command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                   "--bind", self.address, "--workers", "2"]
        self.server = Gunicorn(self.env, log, command=command, port=self.port).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@dataclass
class Cluster:
    nodes: list[Node]
    nginx: Nginx
    brz: Brz
    root: Path
    pushed: dict[str, list[str]]  # codebase -> left-hand history of <cb>/main, oldest first

    def url(self, path: str) -> str:
        return f"{self.nginx.url}/bzr/{path}"

    def writer_url(self, path: str) -> str:
        return as_worker(self.url(path))

    def home(self, codebase: str) -> Node:
        """The node nginx's consistent hash sends ``codebase`` to."""
        address = Ring(n.address for n in self.nodes).node_of(codebase)
        return next(node for node in self.nodes if node.address == address)


def commit_revisions(tree, codebase: str, count: int, label: str) -> None:
    """``count`` commits that change files specific to this codebase."""
    root = Path(tree.basedir)
    for n in range(count):
        (root / f"{codebase}.txt").write_text(f"{codebase} {label} {n}\n" * (n + 1))
        (root / f"{label}-{n}.txt").write_text(f"{label} {n}\n")
        tree.smart_add([str(root)])
        tree.commit(f"{codebase}: {label} {n}", committer=COMMITTER)


def history(location: Path) -> list[str]:
    """A local branch's left-hand history, oldest first."""
    branch = Branch.open(str(location))
    with branch.lock_read():
        graph = branch.repository.get_graph()
        revids = list(graph.iter_lefthand_ancestry(branch.last_revision(), [NULL_REVISION]))
    return [revid.decode() for revid in reversed(revids)]


def working_files(root: Path) -> dict[str, bytes]:
    """The files of a working tree (not its .bzr) and their contents."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".bzr" not in p.relative_to(root).parts}


def revision_ids(repository_dir: Path) -> set[bytes]:
    """Every revision in a repository on disk."""
    repository = ControlDir.open(str(repository_dir)).open_repository()
    with repository.lock_read():
        return set(repository.all_revision_ids())


def get_json(url: str) -> tuple[int, object]:
    """Status and JSON body of a GET through nginx (the body is None on an error)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=60, context=tls_context()) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two nodes, nginx in front, and a branch pushed to each of CODEBASES through it."""
    postgres_url = os.environ.get(POSTGRES_URL_ENV)
    if not postgres_url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: the nodes share a PostgreSQL registry")
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is not installed (.ci/run installs it)")
    root = tmp_path_factory.mktemp("cluster")
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_schema(postgres_url))
        nodes = []
        for name in ("a", "b"):
            env = {**os.environ, "BZRSTORE_DATA": str(root / name / "data"),
                   "BZRSTORE_DATABASE_URL": database_url,
                   "BZRSTORE_TRUSTED_PROXIES": "127.0.0.1",
                   "GUNICORN_ACCESSLOG": str(root / name / "access.log")}
            nodes.append(Node(name, env, free_port()))
        run_cli(nodes[0].env, "db", "upgrade")
        run_cli(nodes[0].env, "codebase", "add", *CODEBASES)
        run_cli(nodes[0].env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
        for node in nodes:
            node.start()
            stack.callback(node.stop)
        nginx = Nginx(root / "nginx", [n.address for n in nodes], site=CLUSTER_SITE).start()
        stack.callback(nginx.stop)
        cluster = Cluster(nodes, nginx, trusting_brz(root / "client"), root, {})

        for codebase in CODEBASES:  # in-process Breezy: one thread
            work = root / "work" / codebase
            work.mkdir(parents=True)
            commit_revisions(ControlDir.create_standalone_workingtree(str(work)),
                             codebase, 3, "main")
            cluster.pushed[codebase] = history(work)

        def push(codebase: str) -> None:
            cluster.brz.run("push", "-q", "-d", root / "work" / codebase,
                            cluster.writer_url(f"{codebase}/main"))

        with ThreadPoolExecutor(4) as pool:  # brz processes, four at a time
            list(pool.map(push, CODEBASES))
        yield cluster


def test_each_codebase_lands_on_one_node_and_pulls_back_identically(cluster: Cluster):
    a, b = cluster.nodes
    placement = {cb: [n.name for n in cluster.nodes if (n.repos / cb).exists()]
                 for cb in CODEBASES}
    assert placement == {cb: [cluster.home(cb).name] for cb in CODEBASES}
    assert {names[0] for names in placement.values()} == {"a", "b"}  # both nodes used
    for node in cluster.nodes:  # what an operator sees on each node
        local = run_cli(node.env, "codebase", "list", "--local").split()
        assert local == [cb for cb in CODEBASES if placement[cb] == [node.name]]
    place = run_cli(a.env, "cluster", "place", "--node", a.address, "--node", b.address)
    assert place.splitlines() == [f"{cb} {cluster.home(cb).address}" for cb in CODEBASES]

    def clone(codebase: str) -> Path:
        target = cluster.root / "clones" / codebase
        cluster.brz.run("branch", "-q", cluster.url(f"{codebase}/main"), target)
        return target

    (cluster.root / "clones").mkdir()
    with ThreadPoolExecutor(4) as pool:
        clones = dict(zip(CODEBASES, pool.map(clone, CODEBASES), strict=True))
    for cb, target in clones.items():
        assert history(target) == cluster.pushed[cb], cb
        work = cluster.root / "work" / cb
        assert working_files(target) == working_files(work), cb


def test_with_one_node_stopped_only_its_codebases_fail(cluster: Cluster, tmp_path: Path):
    stopped, running = cluster.nodes
    gone = next(cb for cb in CODEBASES if cluster.home(cb) is stopped)
    kept = next(cb for cb in CODEBASES if cluster.home(cb) is running)
    stopped.stop()
    try:
        for cb in CODEBASES:
            tip = cluster.pushed[cb][-1]
            status, body = get_json(f"{cluster.nginx.url}/{cb}/revision-info?old=null:&new={tip}")
            if cluster.home(cb) is stopped:
                assert status in (502, 503), cb
            else:
                assert status == 200, cb
                assert [e["revision-id"] for e in body] == cluster.pushed[cb][::-1]
        result = cluster.brz.run("branch", cluster.url(f"{gone}/main"), tmp_path / gone,
                                 check=False)
        assert result.returncode != 0 and "502" in result.stderr
        cluster.brz.run("branch", "-q", cluster.url(f"{kept}/main"), tmp_path / kept)
        assert history(tmp_path / kept) == cluster.pushed[kept]
        # Listings come from the shared registry: any node that is up answers them.
        status, body = get_json(f"{cluster.nginx.url}/repositories")
        assert (status, body) == (200, list(CODEBASES))
    finally:
        stopped.start()
    status, _ = get_json(f"{cluster.nginx.url}/{gone}/revision-info?old=null:&new=null:")
    assert status == 200


def test_moving_a_codebase_with_the_cli_keeps_every_revision(cluster: Cluster):
    a, b = cluster.nodes
    codebase = next(cb for cb in CODEBASES if cluster.home(cb) is a)
    # A second branch with revisions of its own, so the move carries more than one tip.
    feature = cluster.root / "work" / f"{codebase}-feature"
    tree = ControlDir.open(str(cluster.root / "work" / codebase)).sprout(
        str(feature)).open_workingtree()
    commit_revisions(tree, codebase, 2, "feature")
    cluster.brz.run("push", "-q", "-d", feature, cluster.writer_url(f"{codebase}/feature"))
    before = revision_ids(a.repos / codebase)
    assert len(before) == 5

    exporter = subprocess.Popen([str(BIN / "bzrstore"), "export", codebase], env=a.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    importer = subprocess.run([str(BIN / "bzrstore"), "import"], env=b.env,
                              stdin=exporter.stdout, capture_output=True, text=True, timeout=120)
    exporter.stdout.close()
    assert exporter.wait(timeout=60) == 0, exporter.stderr.read()
    assert importer.returncode == 0, importer.stderr
    state = re.search(r"state (\w+)", importer.stdout).group(1)
    assert revision_ids(b.repos / codebase) == before

    # Until nginx is told, the codebase still goes to A; B knows it is out of place.
    misplaced = run_cli(b.env, "cluster", "misplaced", "--self", b.address,
                        "--node", a.address, "--node", b.address, "--pin")
    assert misplaced == f"{codebase} {b.address};\n"
    cluster.nginx.pin(codebase, b.address)
    run_cli(a.env, "codebase", "drop-local", codebase, "--state", state)
    assert not (a.repos / codebase).exists()

    # Through nginx, from B: both branches whole, and a new push lands on B.
    (cluster.root / "moved").mkdir()
    for branch, work in (("main", cluster.root / "work" / codebase), ("feature", feature)):
        target = cluster.root / "moved" / branch
        cluster.brz.run("branch", "-q", cluster.url(f"{codebase}/{branch}"), target)
        assert history(target) == history(work)
        assert working_files(target) == working_files(work)
    commit_revisions(tree, codebase, 1, "after-move")
    cluster.brz.run("push", "-q", "-d", feature, cluster.writer_url(f"{codebase}/feature"))
    assert revision_ids(b.repos / codebase) == before | {history(feature)[-1].encode()}
    assert not (a.repos / codebase).exists()
