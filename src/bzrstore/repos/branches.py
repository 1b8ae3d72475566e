"""Operations on one branch of a codebase, named ``<cb>[/<branch>]``: parent, locks."""

from __future__ import annotations

from pathlib import Path

from breezy import errors, urlutils

from bzrstore.repos.controldirs import (
    BranchReferenceRefused,
    branch_of,
    open_branch,
    open_controldir,
)
from bzrstore.repos.jail import JailedLocalTransport, jailed_transport
from bzrstore.repos.names import split_branch_path
from bzrstore.repos.storage import Storage


def branch_transport(repos_dir: Path, target: str) -> JailedLocalTransport:
    """A transport at ``<cb>[/<branch>]``, jailed to the codebase, every name checked."""
    codebase, segments = split_branch_path(target.strip("/"))
    root = Storage(repos_dir).codebase_dir(codebase)
    if not root.is_dir():
        raise errors.NotBranchError(target)
    relpath = "/".join(urlutils.escape(segment) for segment in segments)
    return jailed_transport(root).clone(relpath) if relpath else jailed_transport(root)


def set_parent_location(repos_dir: Path, target: str, url: str) -> None:
    """Record ``url`` as the parent of the branch at ``<cb>/<branch>``."""
    branch = open_branch(branch_transport(repos_dir, target))
    with branch.lock_write():
        branch.set_parent(url)


def break_lock(repos_dir: Path, target: str) -> list[str]:
    """Break the locks of the branch (and its repository) at ``<cb>[/<branch>]``."""
    controldir = open_controldir(branch_transport(repos_dir, target))
    broken: list[str] = []
    try:
        branch = branch_of(controldir)
    except BranchReferenceRefused:
        raise
    except errors.NotBranchError:
        branch = None
    if branch is not None:
        if branch.get_physical_lock_status():
            branch.control_files._lock.force_break(branch.control_files._lock.peek())
            broken.append(f"broke branch lock on {target}")
        repository = branch.repository
    else:
        repository = controldir.open_repository()
    if repository.get_physical_lock_status():
        lock = repository.control_files._lock
        lock.force_break(lock.peek())
        broken.append(f"broke repository lock of {target.split('/')[0]}")
    if not broken:
        broken.append(f"{target} was not locked")
    return broken
