"""Leftovers of interrupted pushes: which are stale, and `bzrstore check --repair`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from breezy.branch import Branch

from bzrstore.repos import repair
from bzrstore.repos.jail import jailed_transport
from bzrstore.repos.repair import (
    STAGING_STALE_SECONDS,
    SUSPENDED_UPLOAD_SECONDS,
    UPLOAD_GRACE_SECONDS,
    heal_on_start,
    stale_uploads,
)
from bzrstore.repos.storage import create_shared_repository
from helpers import run_cli

HOUR = 3600


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A shared repository like a codebase's, with its upload/ directory."""
    root = tmp_path / "repos" / "alpha"
    create_shared_repository(root)
    return root


def _upload(root: Path, name: str, age: float) -> Path:
    """A file in the repository's upload/, last written ``age`` seconds ago."""
    path = root / ".bzr" / "repository" / "upload" / name
    path.write_bytes(b"pack")
    return _age(path, age)


def _stale(root: Path) -> list[str]:
    return stale_uploads(jailed_transport(root).clone(".bzr/repository"), time.time())


def test_only_old_packs_that_no_process_holds_open_are_stale(repository: Path):
    _upload(repository, "fresh.pack", 10)  # a live push is writing it
    _upload(repository, "dead.pack", UPLOAD_GRACE_SECONDS + HOUR)
    held = _upload(repository, "slow.pack", UPLOAD_GRACE_SECONDS + HOUR)
    with held.open("rb"):  # a slow live writer still has it open
        assert _stale(repository) == ["dead.pack"]
    assert _stale(repository) == ["dead.pack", "slow.pack"]


def test_suspended_write_groups_are_kept_for_a_day(repository: Path):
    for name in ("resumed.pack", "resumed.rix"):
        _upload(repository, name, 2 * HOUR)
    for name in ("abandoned.pack", "abandoned.rix"):
        _upload(repository, name, SUSPENDED_UPLOAD_SECONDS + HOUR)
    assert _stale(repository) == ["abandoned.pack", "abandoned.rix"]


def test_without_proc_only_day_old_uploads_go(repository: Path, monkeypatch):
    monkeypatch.setattr(repair, "open_files", lambda: None)
    _upload(repository, "recent.pack", UPLOAD_GRACE_SECONDS + HOUR)
    _upload(repository, "ancient.pack", SUSPENDED_UPLOAD_SECONDS + HOUR)
    assert _stale(repository) == ["ancient.pack"]


def test_no_upload_directory_means_nothing_stale(tmp_path: Path):
    (tmp_path / "bare").mkdir()
    assert stale_uploads(jailed_transport(tmp_path / "bare"), time.time()) == []


def test_worker_start_removes_old_staging_only(tmp_path: Path):
    repos = tmp_path / "repos"
    old = _age(_mkdir(repos / ".new-alpha-abc"), STAGING_STALE_SECONDS + HOUR)
    young = _mkdir(repos / ".new-beta-def")
    other = _age(_mkdir(repos / ".hidden"), STAGING_STALE_SECONDS + HOUR)
    heal_on_start(repos)
    assert not old.exists() and young.exists() and other.exists()


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_check_repair_heals_what_a_dead_push_left(tmp_path: Path, brz):
    data = tmp_path / "data"
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": ""}
    root = data / "repos" / "alpha"
    create_shared_repository(root)
    brz.run("init", "--create-prefix", root / "c" / "main")
    # A process that takes the branch lock and dies holding it, like a killed worker.
    subprocess.run([sys.executable, "-c", "import os, sys, breezy.bzr\n"
                    "from breezy.branch import Branch\n"
                    "Branch.open(sys.argv[1]).lock_write()\nos._exit(0)", root / "c" / "main"],
                   check=True, timeout=60)
    lock = root / "c" / "main" / ".bzr" / "branch" / "lock" / "held"
    assert lock.is_dir()
    leftover = _upload(root, "killed.pack", UPLOAD_GRACE_SECONDS + HOUR)
    live = _upload(root, "live.pack", 5)
    staging = _age(_mkdir(data / "repos" / ".new-alpha-xyz"), STAGING_STALE_SECONDS + HOUR)

    brz.run("init", root / "c" / "live")
    live_branch = Branch.open(str(root / "c" / "live"))
    live_branch.lock_write()  # held by this test's process, which is alive
    try:
        out = run_cli(env, "check", "--repair", "alpha")
        assert "alpha: left c/live/.bzr/branch/lock: held by a live process" in out
        assert live_branch.get_physical_lock_status()
    finally:
        live_branch.unlock()
    assert "removed staging directory .new-alpha-xyz" in out
    assert "alpha: broke c/main/.bzr/branch/lock: its holder, pid" in out
    assert "alpha: removed .bzr/repository/upload/killed.pack" in out
    assert out.rstrip().endswith("alpha: ok")
    assert not lock.exists() and not leftover.exists() and not staging.exists()
    assert live.exists()
    brz.run("check", root)
