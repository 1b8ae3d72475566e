"""Fixtures of the repos tests: a standalone browse branch, built once per module."""

from __future__ import annotations

import pytest

from bzrstore.repos.revisions import open_repository
from helpers import Browsed, make_branch, write_browse_files


@pytest.fixture(scope="module")
def browsed(tmp_path_factory: pytest.TempPathFactory) -> Browsed:
    """Three revisions of ``write_browse_files``, opened read-only; oldest revision first."""
    root = tmp_path_factory.mktemp("browsed") / "branch"
    _, revids = make_branch(root, 3, write_browse_files)
    return Browsed(open_repository(root), [revid.encode() for revid in revids])
