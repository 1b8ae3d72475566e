"""This node's copies of codebases: which it holds, and dropping one after a move."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bzrstore.node.archive import TransferError, refused_as_transfer
from bzrstore.repos.codebase_state import describe, frozen_codebase, read_state, state_digest


def drop_local(root: Path, codebase: str, expected_state: str, wait_seconds: float) -> str:
    """Delete this node's copy if its state is still ``expected_state``; return a line."""
    with refused_as_transfer(), frozen_codebase(root, codebase, wait_seconds) as (
            repository, branches):
        state = read_state(repository, branches, root, codebase)
        if state_digest(state) != expected_state:
            raise TransferError(
                f"{codebase} is now in state {state_digest(state)}, not {expected_state}:"
                " it changed since the export (or the state is wrong); nothing removed")
        aside = Path(tempfile.mkdtemp(prefix=".dropped-", dir=root.parent))
        os.rename(root, aside / codebase)  # under the lock, so no push can land in it
    shutil.rmtree(aside, ignore_errors=True)
    return f"removed the local copy of {describe(state)}"


def local_codebases(repos_dir: Path, registered: list[str]) -> list[str]:
    """The registered codebases whose repository is on this node's disk."""
    return [name for name in registered if (repos_dir / name / ".bzr").is_dir()]
