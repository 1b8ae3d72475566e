"""Repositories on disk (``repos/storage.py``) and the jailed transport (``repos/jail.py``)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from breezy import urlutils
from breezy.controldir import ControlDir
from breezy.transport import NoSuchFile

from bzrstore.repos import storage
from bzrstore.repos.jail import JailedLocalTransport, jailed_transport
from bzrstore.repos.storage import Storage


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    return tmp_path / "repos"


def test_codebase_dir_is_under_repos(repos: Path):
    assert Storage(repos).codebase_dir("alpha") == repos / "alpha"
    assert not repos.exists()  # naming a directory creates nothing


def test_ensure_repository_makes_a_shared_2a_repository_without_trees(repos: Path):
    root = Storage(repos).ensure_repository("alpha")
    assert root == repos / "alpha"
    repository = ControlDir.open(str(root)).open_repository()
    assert repository.is_shared() and not repository.make_working_trees()
    assert repository._format.network_name() == (
        b"Bazaar repository format 2a (needs bzr 1.16 or later)\n")
    assert os.listdir(repos) == ["alpha"]  # no staging directory left


def test_ensure_repository_is_idempotent(repos: Path):
    first = Storage(repos).ensure_repository("alpha")
    (first / "marker").write_text("kept")
    assert Storage(repos).ensure_repository("alpha") == first
    assert (first / "marker").read_text() == "kept"
    assert os.listdir(repos) == ["alpha"]


def test_ensure_repository_is_atomic(repos: Path, monkeypatch: pytest.MonkeyPatch):
    def half_made(path: Path) -> None:
        (path / ".bzr").mkdir()
        raise OSError("disk full")

    monkeypatch.setattr(storage, "create_shared_repository", half_made)
    with pytest.raises(OSError, match="disk full"):
        Storage(repos).ensure_repository("alpha")
    assert os.listdir(repos) == []  # neither the codebase nor its staging directory


def test_ensure_repository_under_concurrency(repos: Path):
    barrier = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def ensure() -> None:
        barrier.wait()
        try:
            results.append(Storage(repos).ensure_repository("alpha"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and results == [repos / "alpha"] * 8
    assert os.listdir(repos) == ["alpha"]
    assert ControlDir.open(str(repos / "alpha")).open_repository().is_shared()


@pytest.fixture
def codebase(repos: Path) -> Path:
    return Storage(repos).ensure_repository("alpha")


def test_ensure_parents_makes_the_directories_above_the_branch(repos: Path, codebase: Path):
    Storage(repos).ensure_parents("alpha", ("camp", "deeper", "main"))
    assert (codebase / "camp" / "deeper").is_dir()
    assert not (codebase / "camp" / "deeper" / "main").exists()
    Storage(repos).ensure_parents("alpha", ("camp", "deeper", "other"))  # existing: fine


def test_ensure_parents_without_the_codebase_does_nothing(repos: Path):
    Storage(repos).ensure_parents("alpha", ("camp", "main"))
    assert not repos.exists()


def test_ensure_parents_does_not_follow_a_planted_symlink(repos: Path, codebase: Path,
                                                          tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (codebase / "outlink").symlink_to(elsewhere)
    Storage(repos).ensure_parents("alpha", ("outlink", "deeper", "main"))
    (codebase / "file").write_text("x")
    Storage(repos).ensure_parents("alpha", ("file", "deeper", "main"))
    assert list(elsewhere.iterdir()) == []
    Storage(repos).ensure_parents("alpha", ("new", "deeper", "main"))
    assert (codebase / "new" / "deeper").is_dir()
    assert not (codebase / "new" / "deeper" / "main").exists()


def test_ensure_parents_follows_an_operators_symlinked_root(tmp_path: Path):
    real = tmp_path / "disk2" / "alpha"
    real.mkdir(parents=True)
    (tmp_path / "repos").mkdir()
    (tmp_path / "repos" / "alpha").symlink_to(real)
    Storage(tmp_path / "repos").ensure_parents("alpha", ("camp", "main"))
    assert (real / "camp").is_dir()


# --- the jail ---------------------------------------------------------------------------


@pytest.fixture
def jailed(codebase: Path, tmp_path: Path) -> JailedLocalTransport:
    """The codebase's transport, with a symlink out of it and a secret beside it."""
    (tmp_path / "secret").write_text("outside")
    (codebase / "out").symlink_to(tmp_path)
    (codebase / "inside").symlink_to(codebase / ".bzr")
    return jailed_transport(codebase)


@pytest.mark.parametrize("relpath", ["out/secret", "../secret", "../../repos", "out"])
def test_jail_refuses_paths_outside(jailed: JailedLocalTransport, relpath: str):
    with pytest.raises(NoSuchFile) as caught:
        jailed.get_bytes(relpath)
    assert str(jailed._jail) not in str(caught.value)  # no server path in the message


def test_jail_allows_a_symlink_that_stays_inside(jailed: JailedLocalTransport):
    assert jailed.get_bytes("inside/branch-format").startswith(b"Bazaar-NG meta directory")


def test_jail_clones_stay_jailed(jailed: JailedLocalTransport):
    below = jailed.clone(".bzr")
    with pytest.raises(NoSuchFile):
        below.get_bytes("../out/secret")
    with pytest.raises(NoSuchFile):
        jailed.clone("a%0Ab")  # a control character, even escaped


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "del\x7f", "c1\x85"])
def test_jail_refuses_control_characters(jailed: JailedLocalTransport, name: str):
    with pytest.raises(NoSuchFile):
        jailed.put_bytes(urlutils.escape(name), b"x")
    with pytest.raises(NoSuchFile):
        jailed.mkdir(urlutils.escape(name))
    assert sorted(os.listdir(jailed.local_abspath("."))) == [".bzr", "inside", "out"]


def test_jail_errors_name_paths_relative_to_the_jail(jailed: JailedLocalTransport):
    with pytest.raises(NoSuchFile) as caught:
        jailed.get_bytes("camp/missing")
    assert "/camp/missing" in str(caught.value)
    assert str(jailed._jail) not in str(caught.value)


def test_lock_info_is_hidden_from_readers(codebase: Path):
    lock = codebase / ".bzr" / "repository" / "lock" / "held"
    lock.mkdir(parents=True)
    (lock / "info").write_text("hostname: server\npid: 1\n")
    assert jailed_transport(codebase).get_bytes(".bzr/repository/lock/held/info")
    with pytest.raises(NoSuchFile):
        jailed_transport(codebase, hide_lock_info=True).get_bytes(
            ".bzr/repository/lock/held/info")
