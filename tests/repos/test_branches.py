"""Operations on one branch of a codebase (``repos/branches.py``): break-lock, set parent."""

from __future__ import annotations

from pathlib import Path

import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir
from breezy.errors import NotBranchError

from bzrstore.repos.branches import branch_transport, break_lock, set_parent_location
from bzrstore.repos.names import InvalidName
from bzrstore.repos.storage import Storage


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    """Codebase ``alpha`` with branch ``alpha/camp/main``."""
    repos = tmp_path / "repos"
    root = Storage(repos).ensure_repository("alpha")
    (root / "camp").mkdir()
    ControlDir.create_branch_convenience(str(root / "camp" / "main"), force_new_tree=False)
    return repos


def lock_branch(repos: Path) -> Branch:
    """Take the branch's physical lock as a process that died holding it would leave it."""
    branch = Branch.open(str(repos / "alpha" / "camp" / "main"))
    branch.control_files._lock.attempt_lock()
    return branch


def lock_repository(repos: Path) -> None:
    ControlDir.open(str(repos / "alpha")).open_repository().control_files._lock.attempt_lock()


def is_repository_locked(repos: Path) -> bool:
    return ControlDir.open(str(repos / "alpha")).open_repository().get_physical_lock_status()


def test_break_lock_of_an_unlocked_branch(repos: Path):
    assert break_lock(repos, "alpha/camp/main") == ["alpha/camp/main was not locked"]
    assert break_lock(repos, "alpha") == ["alpha was not locked"]


def test_break_lock_of_a_locked_branch(repos: Path):
    branch = lock_branch(repos)
    assert break_lock(repos, "alpha/camp/main") == ["broke branch lock on alpha/camp/main"]
    assert not branch.get_physical_lock_status()
    assert break_lock(repos, "alpha/camp/main") == ["alpha/camp/main was not locked"]


def test_break_lock_of_a_branch_and_its_repository(repos: Path):
    lock_branch(repos)
    lock_repository(repos)
    assert break_lock(repos, "alpha/camp/main") == [
        "broke branch lock on alpha/camp/main", "broke repository lock of alpha"]
    assert not is_repository_locked(repos)


def test_break_lock_of_the_repository_alone(repos: Path):
    lock_repository(repos)
    assert break_lock(repos, "alpha") == ["broke repository lock of alpha"]
    assert not is_repository_locked(repos)


@pytest.mark.parametrize("target", ["gamma", "alpha/camp/nowhere"])
def test_break_lock_where_nothing_is(repos: Path, target: str):
    with pytest.raises(NotBranchError):
        break_lock(repos, target)


@pytest.mark.parametrize("target", ["alpha/../beta", "Alpha", "alpha/camp/.hidden"])
def test_break_lock_refuses_invalid_names(repos: Path, target: str):
    with pytest.raises(InvalidName):
        break_lock(repos, target)


def test_set_parent_location(repos: Path):
    set_parent_location(repos, "alpha/camp/main", "https://example.org/upstream")
    branch = Branch.open(str(repos / "alpha" / "camp" / "main"))
    assert branch.get_parent() == "https://example.org/upstream"
    assert not branch.get_physical_lock_status()  # the lock it took is released


def test_set_parent_location_needs_a_branch(repos: Path):
    with pytest.raises(NotBranchError):
        set_parent_location(repos, "alpha/camp", "https://example.org/upstream")


def test_branch_transport_is_jailed_at_the_codebase(repos: Path):
    transport = branch_transport(repos, "/alpha/camp/main/")
    assert transport.local_abspath(".") == str(repos / "alpha" / "camp" / "main")
    assert transport._jail == str((repos / "alpha").resolve())
