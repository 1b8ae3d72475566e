"""Moving a codebase between two nodes with ``bzrstore export`` / ``import`` / ``drop-local``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir

from bzrstore.node.archive import MANIFEST_NAME, SUMS_NAME
from bzrstore.repos.storage import Storage
from helpers import POSTGRES_URL_ENV, starts_processes
from postgres import postgres_schema
from servers import BIN, Brz, tree_snapshot

CB = "hello"
BRANCHES = ("main/trunk", "main/feature")


@dataclass
class Node:
    """One bzrstore node: its data directory and the environment that names it."""

    data: Path
    env: dict[str, str]

    @property
    def repo(self) -> Path:
        return self.data / "repos" / CB

    def cli(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``bzrstore args`` on this node; the caller checks the outcome."""
        result = subprocess.run([str(BIN / "bzrstore"), *args], env=self.env, input=stdin,
                                capture_output=True, timeout=120)
        return subprocess.CompletedProcess(result.args, result.returncode,
                                           result.stdout.decode(errors="replace"),
                                           result.stderr.decode(errors="replace"))

    def ok(self, *args: str, stdin: bytes | None = None) -> str:
        result = self.cli(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def local(self) -> list[str]:
        return self.ok("codebase", "list", "--local").split()


def make_node(data: Path, database_url: str = "") -> Node:
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": database_url}
    return Node(data, env)


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit status 1 with one clear line on stderr that says ``words``."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("bzrstore: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def fill_codebase(brz: Brz, node: Node, work: Path) -> None:
    """Two branches in the node's shared repository, with a merge on trunk."""
    Storage(node.data / "repos").ensure_repository(CB)
    trunk, feature = work / "trunk", work / "feature"
    work.mkdir(parents=True, exist_ok=True)
    brz.make_branch(trunk, revisions=3)
    brz.run("branch", "-q", trunk, feature)
    for n in (1, 2):  # only new files, so the merge has no conflict
        (feature / f"feature{n}.txt").write_text(f"feature {n}\n")
        brz.run("add", "-q", cwd=feature)
        brz.run("commit", "-q", "-m", f"feature {n}", cwd=feature)
    brz.make_branch(trunk, revisions=1, start=20)
    brz.run("merge", "-q", feature, cwd=trunk)
    brz.run("commit", "-q", "-m", "merge feature", cwd=trunk)
    for path, branch in zip(BRANCHES, (trunk, feature), strict=True):
        brz.run("push", "-q", "--create-prefix", node.repo / path, cwd=branch)


def all_revisions(repo: Path) -> set[bytes]:
    repository = ControlDir.open(str(repo)).open_repository()
    with repository.lock_read():
        return set(repository.all_revision_ids())


def branch_state(brz: Brz, repo: Path) -> dict[str, tuple[list[str], str]]:
    """Each branch's left-hand history and its full log with merged revisions."""
    return {path: (brz.revision_ids(repo / path),
                   brz.run("log", "-n0", "--show-ids", repo / path).stdout)
            for path in BRANCHES}


def move(a: Node, b: Node, *import_args: str) -> subprocess.CompletedProcess[str]:
    """``bzrstore export CB - | bzrstore import -`` from node a to node b."""
    export = subprocess.Popen([str(BIN / "bzrstore"), "export", CB], env=a.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    imported = subprocess.run([str(BIN / "bzrstore"), "import", "-", *import_args], env=b.env,
                              stdin=export.stdout, capture_output=True, text=True, timeout=120)
    export.stdout.close()
    assert export.wait(timeout=120) == 0, export.stderr.read()
    return imported


@pytest.fixture(params=["sqlite", "postgresql"])
@starts_processes
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """Two nodes; on PostgreSQL they share one registry, on SQLite each has its own."""
    if request.param == "sqlite":
        yield make_node(tmp_path / "a"), make_node(tmp_path / "b")
        return
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL tests skipped")
    with postgres_schema(url) as schema_url:
        a = make_node(tmp_path / "a", schema_url)
        a.ok("db", "upgrade")
        yield a, make_node(tmp_path / "b", schema_url)


def test_move_keeps_every_revision_and_b_takes_writes(nodes, brz: Brz, tmp_path: Path):
    a, b = nodes
    a.ok("codebase", "add", CB)
    fill_codebase(brz, a, tmp_path / "work")
    before, revisions = branch_state(brz, a.repo), all_revisions(a.repo)
    assert len(revisions) == 7 and "merge feature" in before["main/trunk"][1]
    assert a.local() == [CB] and b.local() == []

    imported = move(a, b)
    assert imported.returncode == 0, imported.stderr
    assert f"imported {CB}: 2 branches, 7 revisions, state " in imported.stdout
    assert branch_state(brz, b.repo) == before
    assert all_revisions(b.repo) == revisions
    assert b.local() == [CB]
    assert not list(b.repo.rglob("held")) and not list(b.data.glob("repos/.*"))

    # B takes a push at once: no lock came along with the copy.
    brz.make_branch(tmp_path / "work" / "trunk", revisions=1, start=30)
    brz.run("push", "-q", b.repo / "main/trunk", cwd=tmp_path / "work" / "trunk")
    assert len(brz.revision_ids(b.repo / "main/trunk")) == len(before["main/trunk"][0]) + 1

    state = imported.stdout.split("state ")[1].split()[0]
    assert a.ok("codebase", "drop-local", CB, "--state", state).startswith("removed the local")
    assert not a.repo.exists() and a.local() == [] and b.local() == [CB]
    assert CB in a.ok("codebase", "list").split()  # still registered: the registry is shared


def test_drop_local_refuses_a_changed_or_unknown_state(brz: Brz, tmp_path: Path):
    a = make_node(tmp_path / "a")
    a.ok("codebase", "add", CB)
    fill_codebase(brz, a, tmp_path / "work")
    archive = tmp_path / "hello.tar"
    state = a.cli("export", CB, "-o", str(archive)).stderr.split("state ")[1].split()[0]
    brz.make_branch(tmp_path / "work" / "trunk", revisions=1, start=40)
    brz.run("push", "-q", a.repo / "main/trunk", cwd=tmp_path / "work" / "trunk")
    snapshot = tree_snapshot(a.repo)
    refused(a.cli("codebase", "drop-local", CB, "--state", state), "changed since the export")
    refused(a.cli("codebase", "drop-local", "other", "--state", state), "no repository")
    assert tree_snapshot(a.repo) == snapshot


@pytest.fixture(scope="module")
@starts_processes
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Node, Path]:
    """A node holding the codebase and a good archive of it (SQLite)."""
    root = tmp_path_factory.mktemp("source")
    node = make_node(root / "a")
    node.ok("codebase", "add", CB)
    fill_codebase(Brz(root / "home"), node, root / "work")
    archive = root / "hello.tar"
    assert node.cli("export", CB, "-o", str(archive)).returncode == 0
    return node, archive


def test_archive_starts_with_the_manifest_and_carries_no_lock(source):
    node, archive = source
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[0] == MANIFEST_NAME and names[-1] == SUMS_NAME
    assert not [name for name in names if "/lock/" in name]
    assert "repository/.bzr/repository/lock" in names  # the lock directory itself stays
    assert not node.repo.joinpath(".bzr/repository/lock/held").exists()  # export unlocked


def rewrite(archive: Path, change: Callable[[tarfile.TarInfo, bytes], list[tuple]]) -> bytes:
    """A copy of ``archive`` whose members ``change`` maps to (info, data) pairs."""
    out = io.BytesIO()
    with tarfile.open(archive) as tar, tarfile.open(fileobj=out, mode="w") as new:
        for info in tar.getmembers():
            data = tar.extractfile(info).read() if info.isfile() else b""
            for new_info, new_data in change(info, data):
                new_info.size = len(new_data)
                new.addfile(new_info, io.BytesIO(new_data) if new_info.isfile() else None)
    return out.getvalue()


def _tamper_tip(info: tarfile.TarInfo, data: bytes) -> list[tuple]:
    if info.name == MANIFEST_NAME:
        manifest = json.loads(data)
        manifest["branches"]["main/feature"][1] = manifest["branches"]["main/trunk"][1]
        data = json.dumps(manifest).encode()
    return [(info, data)]


def _flip_pack_byte(info: tarfile.TarInfo, data: bytes) -> list[tuple]:
    if info.name.endswith(".pack"):
        data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    return [(info, data)]


def _drop_sums(info: tarfile.TarInfo, data: bytes) -> list[tuple]:
    return [] if info.name == SUMS_NAME else [(info, data)]


def _extra(name: str, kind: bytes = tarfile.REGTYPE) -> Callable[..., list[tuple]]:
    def change(info: tarfile.TarInfo, data: bytes) -> list[tuple]:
        if info.name != MANIFEST_NAME:
            return [(info, data)]
        evil = tarfile.TarInfo(name)
        evil.type, evil.linkname = kind, "/etc/passwd"
        return [(info, data), (evil, b"evil\n" if kind == tarfile.REGTYPE else b"")]
    return change


BAD_ARCHIVES: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "empty": (lambda a: b"", "bad or truncated archive"),
    "garbage": (lambda a: b"this is not a tar archive\n" * 100, "bad or truncated archive"),
    "truncated": (lambda a: a.read_bytes()[: a.stat().st_size // 2], "truncated"),
    "no checksums": (lambda a: rewrite(a, _drop_sums), "truncated"),
    "dot-dot member": (lambda a: rewrite(a, _extra("repository/../../evil")), "unsafe member"),
    "absolute member": (lambda a: rewrite(a, _extra("/tmp/bzrstore-evil")), "unsafe member"),
    "symlink member": (lambda a: rewrite(a, _extra("repository/link", tarfile.SYMTYPE)),
                       "not a file or directory"),
    "hardlink member": (lambda a: rewrite(a, _extra("repository/hard", tarfile.LNKTYPE)),
                        "not a file or directory"),
    "tampered tip": (lambda a: rewrite(a, _tamper_tip), "branch 'main/feature'"),
    "flipped byte": (lambda a: rewrite(a, _flip_pack_byte), "checksum mismatch"),
    "no manifest": (lambda a: rewrite(a, lambda i, d: [] if i.name == MANIFEST_NAME
                                      else [(i, d)]), "not a bzrstore archive"),
}


@pytest.mark.parametrize("kind", BAD_ARCHIVES)
def test_bad_archives_are_refused_and_leave_nothing(source, tmp_path: Path, kind: str):
    _, archive = source
    make, message = BAD_ARCHIVES[kind]
    b = make_node(tmp_path / "b")
    b.ok("codebase", "list")  # creates the registry, so only the import can add files
    (b.data / "repos").mkdir()
    before = tree_snapshot(tmp_path)
    refused(b.cli("import", "-", stdin=make(archive)), message)
    assert tree_snapshot(tmp_path) == before
    assert not Path("/tmp/bzrstore-evil").exists()


def test_import_over_an_existing_repository(source, tmp_path: Path):
    _, archive = source
    b = make_node(tmp_path / "b")
    assert "registered it" in b.ok("import", str(archive))  # SQLite: B's own registry
    Storage(b.data / "repos").ensure_repository("other")
    snapshot = tree_snapshot(b.data / "repos")
    refused(b.cli("import", str(archive)), "already has a repository", "--replace")
    assert tree_snapshot(b.data / "repos") == snapshot
    assert "imported hello" in b.ok("import", "--replace", str(archive))
    assert sorted(p.name for p in (b.data / "repos").iterdir()) == ["hello", "other"]


def test_export_refusals(source, tmp_path: Path):
    node, _ = source
    out = tmp_path / "out.tar"
    refused(node.cli("export", "nobody", "-o", str(out)), "no such codebase: nobody")
    node.ok("codebase", "add", "empty")
    refused(node.cli("export", "empty", "-o", str(out)), "no repository on this node")
    refused(node.cli("export", "Bad/name", "-o", str(out)))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("held", ["branch", "repository"])
def test_export_gives_up_on_a_held_lock(source, tmp_path: Path, held: str):
    node, _ = source
    out = tmp_path / "out.tar"
    if held == "branch":  # as a push in progress does
        lockable, target = Branch.open(str(node.repo / "main/trunk")), f"{CB}/main/trunk"
    else:  # as a push does while it commits its packs
        lockable = ControlDir.open(str(node.repo)).open_repository().control_files
        target = CB
    lockable.lock_write()
    try:
        started = time.monotonic()
        refused(node.cli("export", CB, "--wait", "1", "-o", str(out)),
                f"{target} is locked", f"break-lock {target}'")
        assert time.monotonic() - started < 10
    finally:
        lockable.unlock()
    assert not list(tmp_path.iterdir())
    assert node.cli("export", CB, "-o", str(out)).returncode == 0
    assert not list(node.repo.rglob("held"))
