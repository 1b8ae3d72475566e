"""A codebase's repository held still, and the state that a copy of it must reproduce."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from breezy import errors, lockdir
from breezy.revision import NULL_REVISION

from bzrstore.repos.controldirs import find_branches, open_controldir
from bzrstore.repos.jail import jailed_transport

STATE_KEYS = ("codebase", "format", "branches", "revisions", "ghosts")


class CodebaseStateError(Exception):
    """The repository cannot be held still (absent, locked), or a copy is not as described."""


@contextmanager
def frozen_codebase(root: Path, codebase: str,
                    wait_seconds: float) -> Iterator[tuple[Any, list[Any]]]:
    """The codebase's repository and branches, locked so that no push changes them.

    A 2a repository's write lock is only logical (pushes write packs side by side);
    what serialises writers is the physical lock on ``pack-names`` and each branch's
    lock, so those are held: a push waits, then fails with a lock error.
    """
    if not root.is_dir():
        raise CodebaseStateError(f"codebase {codebase} has no repository on this node")
    transport = jailed_transport(root)
    repository = open_controldir(transport).open_repository()
    inode, held = root.stat().st_ino, []
    # Breezy waits a fixed 30 s for each lock; the operator chooses here instead.
    default, lockdir._DEFAULT_TIMEOUT_SECONDS = lockdir._DEFAULT_TIMEOUT_SECONDS, wait_seconds
    try:
        held.append(_take(repository, codebase))
        held.append(_take(repository.control_files, codebase))
        branches = list(find_branches(transport))
        for branch in branches:
            held.append(_take(branch, f"{codebase}/{branch_path(branch, root)}"))
    except BaseException:
        _release(held)
        raise
    finally:
        lockdir._DEFAULT_TIMEOUT_SECONDS = default
    try:
        yield repository, branches
    finally:
        if _inode(root) == inode:  # a caller that moved it away took the held locks along
            _release(held)


def _take(lockable: Any, target: str) -> Any:
    """Write-lock ``lockable``; return what unlocks it."""
    try:
        lockable.lock_write()
        return lockable.unlock
    except errors.LockContention as exc:
        raise CodebaseStateError(
            f"{target} is locked (a push may be running): try again, or"
            f" 'bzrstore break-lock {target}' if the lock is stale") from exc


def _release(held: list[Any]) -> None:
    for unlock in reversed(held):
        unlock()


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def branch_path(branch: Any, root: Path) -> str:
    """A branch's path below the repository root ('' for the root itself)."""
    location = branch.controldir.root_transport.local_abspath(".")
    relpath = Path(os.path.relpath(location, root)).as_posix()
    return "" if relpath == "." else relpath


def read_state(repository: Any, branches: list[Any], root: Path,
               codebase: str) -> dict[str, Any]:
    """What a copy must reproduce: format, branch tips, revision count, ghosts."""
    tips: dict[str, list[Any]] = {}
    for branch in branches:
        revno, tip = branch.last_revision_info()
        tips[branch_path(branch, root)] = [revno, tip.decode()]
    heads = [tip.encode() for _, tip in tips.values() if tip.encode() != NULL_REVISION]
    ancestry = repository.get_graph().iter_ancestry(heads)
    ghosts = sorted(key.decode() for key, parents in ancestry
                    if parents is None and key != NULL_REVISION)
    return {
        "codebase": codebase,
        "format": repository._format.network_name().decode().strip(),
        "branches": dict(sorted(tips.items())),
        "revisions": len(repository.all_revision_ids()),
        "ghosts": ghosts,
    }


def state_digest(state: dict[str, Any]) -> str:
    """A short fingerprint of a state, to prove later that nothing changed."""
    canonical = json.dumps({key: state[key] for key in STATE_KEYS}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def describe(state: dict[str, Any]) -> str:
    """One line for the operator: branches, revisions and the state fingerprint."""
    return (f"{state['codebase']}: {len(state['branches'])} branches,"
            f" {state['revisions']} revisions, state {state_digest(state)}")


def verify_copy(root: Path, manifest: dict[str, Any]) -> None:
    """Open the copy with Breezy; refuse unless its state is the manifest's."""
    try:
        transport = jailed_transport(root)
        repository = open_controldir(transport).open_repository()
        with repository.lock_read():
            branches = list(find_branches(transport))
            state = read_state(repository, branches, root, manifest["codebase"])
    except (errors.BzrError, OSError) as exc:
        raise CodebaseStateError(f"verification failed: the copy does not open: {exc}") from exc
    for key in STATE_KEYS:
        if state[key] != manifest[key]:
            raise CodebaseStateError(f"verification failed: {_difference(key, manifest, state)}")


def _difference(key: str, expected: dict[str, Any], actual: dict[str, Any]) -> str:
    if key == "branches":
        for path in sorted(expected[key].keys() | actual[key].keys()):
            want, have = expected[key].get(path), actual[key].get(path)
            if want != have:
                return f"branch {path or '.'!r}: manifest says {want}, the copy has {have}"
    if key == "ghosts":
        missing = sorted(set(actual[key]) - set(expected[key]))
        return f"{len(missing)} revisions missing from the copy, e.g. {missing[:1]}"
    return f"{key}: manifest says {expected[key]!r}, the copy has {actual[key]!r}"
