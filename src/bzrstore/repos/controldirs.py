"""Server-side opening of control directories and branches: jailed, never followed out.

Every branch bzrstore opens itself (remotes, break-lock, export/import, check) is opened
here, on a codebase's jailed transport. A branch *reference* (``.bzr/branch/location``)
and a stacked branch's fallback repository name a URL a worker chose; opening either
would make the server read, lock or write there, or request any URL it can reach. So
references are refused outright and fallbacks are never opened: Breezy's own smart
server does the same for every ``Branch.*`` verb.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import breezy.bzr  # noqa: F401 - registers the Bazaar formats with ControlDir
from breezy import errors
from breezy.controldir import ControlDir
from breezy.transport import NoSuchFile

if TYPE_CHECKING:
    from bzrstore.repos.jail import JailedLocalTransport

CONTROL_DIR = ".bzr"


class BranchReferenceRefused(errors.NotBranchError):
    """A branch reference where the server expected a branch: never followed."""

    def __init__(self, path: str) -> None:
        super().__init__(path, detail="a branch reference, which bzrstore does not follow")


def open_controldir(transport: JailedLocalTransport) -> Any:
    """The control directory at ``transport`` (a codebase's jailed transport)."""
    return ControlDir.open_from_transport(transport)


def open_branch(transport: JailedLocalTransport) -> Any:
    """The branch at ``transport``; refuses references and leaves fallbacks unopened."""
    return branch_of(open_controldir(transport))


def branch_of(controldir: Any, repository: Any = None) -> Any:
    """The branch in ``controldir``, by the same rules as ``open_branch``.

    With ``repository`` (the one the branch uses, already open) the branch is opened
    on it instead of a repository found and opened anew.
    """
    # Reading the format does not follow anything; opening a reference would.
    if controldir.get_branch_reference() is not None:
        raise BranchReferenceRefused(controldir.root_transport.base)
    if repository is None:
        return controldir.open_branch(ignore_fallbacks=True)
    return controldir.find_branch_format().open(
        controldir, _found=True, ignore_fallbacks=True, found_repository=repository)


def find_branches(transport: JailedLocalTransport) -> Iterator[Any]:
    """Branches at or below ``transport`` that use the repository there.

    Like Breezy's ``Repository.find_branches(using=True)``, but walks real directories
    only (a symlink, even one inside the jail, is never descended: no loops), skips
    references and colocated branches, and does not enter a nested repository.
    """
    pending = [transport]
    while pending:
        current = pending.pop()
        try:
            controldir = open_controldir(current)
        except (errors.NotBranchError, errors.UnknownFormatError, errors.PermissionDenied):
            controldir = None
        if controldir is not None:
            if current is not transport and _has_repository(controldir):
                continue
            try:
                yield branch_of(controldir)
            except errors.NotBranchError:
                pass
        pending.extend(current.clone(name) for name in sorted(_subdirectories(current),
                                                              reverse=True))


def _has_repository(controldir: Any) -> bool:
    try:
        controldir.open_repository()
    except errors.NoRepositoryPresent:
        return False
    return True


def _subdirectories(transport: JailedLocalTransport) -> list[str]:
    """Names of the real directories (not symlinks, not ``.bzr``) in ``transport``."""
    try:
        names = transport.list_dir(".")
    except (NoSuchFile, errors.PermissionDenied):
        return []
    found = []
    for name in names:
        if name == CONTROL_DIR:
            continue
        try:
            mode = transport.stat(name).st_mode  # lstat: a symlink is not a directory
        except (NoSuchFile, errors.PermissionDenied):
            continue
        if stat.S_ISDIR(mode):
            found.append(name)
    return found


def check_repository(transport: JailedLocalTransport, verbose: bool = False) -> None:
    """``brz check`` of the shared repository at ``transport`` and of its branches.

    Breezy's ``check_dwim`` opens by local path and follows references, so this does
    what it does (repository, then each branch against it) through ``find_branches``.
    Results are reported through Breezy's ``note``; a fault raises ``BzrError``.
    """
    from breezy.check import scan_branch

    repository = open_controldir(transport).open_repository()
    needed_refs: dict[Any, Any] = {}
    with ExitStack() as held, repository.lock_read():
        for branch in find_branches(transport):
            scan_branch(branch, needed_refs, held)
        result = repository.check(None, callback_refs=needed_refs, check_repo=True)
        result.report_results(verbose)
