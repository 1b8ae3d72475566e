"""``brz check`` of whole codebases, and healing first (``repos/check.py``), as findings."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from breezy.controldir import ControlDir

from bzrstore.repos.check import Finding, check_codebases, stored_codebases
from bzrstore.repos.repair import STAGING_STALE_SECONDS, UPLOAD_GRACE_SECONDS
from bzrstore.repos.storage import Storage

OLD = STAGING_STALE_SECONDS + UPLOAD_GRACE_SECONDS + 3600


def age(path: Path) -> Path:
    then = time.time() - OLD
    os.utime(path, (then, then))
    return path


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    """Codebases ``alpha`` (a branch with one commit) and ``beta`` (an empty repository)."""
    repos = tmp_path / "repos"
    root = Storage(repos).ensure_repository("alpha")
    (root / "camp").mkdir()
    branch = ControlDir.create_branch_convenience(str(root / "camp" / "main"),
                                                  force_new_tree=False)
    tree = branch.create_checkout(str(tmp_path / "work"), lightweight=True)
    (tmp_path / "work" / "file.txt").write_text("line\n" * 100)
    tree.add(["file.txt"])
    tree.commit("one", committer="Test Worker <worker@example.com>")
    Storage(repos).ensure_repository("beta")
    return repos


def test_stored_codebases_leave_out_staging(repos: Path):
    (repos / ".new-abc").mkdir()
    (repos / "stray-file").write_text("")
    assert stored_codebases(repos) == ["alpha", "beta"]


def test_healthy_codebases_are_ok(repos: Path):
    assert list(check_codebases(repos, [])) == [Finding("alpha", "ok"), Finding("beta", "ok")]
    assert list(check_codebases(repos, ["beta"])) == [Finding("beta", "ok")]


def test_a_truncated_pack_fails(repos: Path):
    for pack in (repos / "alpha" / ".bzr" / "repository" / "packs").iterdir():
        pack.write_bytes(pack.read_bytes()[:pack.stat().st_size // 2])
    alpha, beta = check_codebases(repos, [])
    assert (alpha.codebase, alpha.failed) == ("alpha", True)
    assert "readv() read" in alpha.text and str(repos) not in alpha.text
    assert beta == Finding("beta", "ok")  # one broken codebase does not stop the rest


def test_broken_pack_names_fail(repos: Path):
    (repos / "alpha" / ".bzr" / "repository" / "pack-names").write_bytes(b"garbage")
    finding, = check_codebases(repos, ["alpha"])
    assert finding.failed and "pack-names" in finding.text


@pytest.mark.parametrize("codebase", ["gamma", "empty"])
def test_no_repository_fails(repos: Path, codebase: str):
    (repos / "empty").mkdir()
    finding, = check_codebases(repos, [codebase])
    assert (finding.codebase, finding.failed) == (codebase, True)


def test_repair_reports_what_it_removed_then_checks(repos: Path):
    staging = repos / ".new-xyz"
    staging.mkdir()
    age(staging)
    upload = repos / "beta" / ".bzr" / "repository" / "upload" / "killed.pack"
    upload.write_bytes(b"pack")
    age(upload)
    assert list(check_codebases(repos, [], repair=True)) == [
        Finding(None, "removed staging directory .new-xyz"),
        Finding("alpha", "ok"),
        Finding("beta", "removed .bzr/repository/upload/killed.pack"),
        Finding("beta", "ok"),
    ]
    assert not staging.exists() and not upload.exists()


def test_without_repair_nothing_is_removed(repos: Path):
    staging = repos / ".new-xyz"
    staging.mkdir()
    age(staging)
    assert list(check_codebases(repos, [])) == [Finding("alpha", "ok"), Finding("beta", "ok")]
    assert staging.exists()
