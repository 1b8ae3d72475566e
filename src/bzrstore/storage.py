"""Repositories on disk: names to paths (the jail), create-on-first-use, locks, checks."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import breezy.bzr  # noqa: F401 - registers the Bazaar formats with ControlDir
from breezy import errors, urlutils
from breezy.transport import NoSuchFile
from breezy.transport.local import LocalTransport

from .config import Settings
from .names import split_branch_path

SHARED_REPO_FORMAT = "2a"


class JailedLocalTransport(LocalTransport):
    """A local transport that refuses any path whose real location leaves its jail.

    Breezy's chroot only checks path strings; this also stops symlinks planted
    inside a repository, and keeps filesystem paths out of error messages.
    """

    def __init__(self, base: str, jail: str | None = None) -> None:
        super().__init__(base)
        self._jail = jail if jail is not None else os.path.realpath(self._local_base)

    def clone(self, offset: str | None = None) -> JailedLocalTransport:
        """Clone within the same jail."""
        base = self.base if offset is None else self.abspath(offset)
        return JailedLocalTransport(base, self._jail)

    def _abspath(self, relative_reference: str) -> str:
        path = super()._abspath(relative_reference)
        real = os.path.realpath(path)
        if real != self._jail and not real.startswith(self._jail + os.sep):
            raise NoSuchFile(self._client_path(path))
        return path

    def local_abspath(self, relpath: str) -> str:
        """Return the on-disk path, after the jail check."""
        return self._abspath(relpath)

    def _client_path(self, path: str) -> str:
        """``path`` relative to the jail, as shown to clients."""
        if path == self._jail or path.startswith(self._jail + os.sep):
            return path[len(self._jail) :] or "/"
        return os.path.basename(path)

    def _translate_error(self, e: Any, path: str, raise_generic: bool = True) -> None:
        # Keep the server's layout out of errors sent to clients.
        bare = OSError(e.errno, e.strerror) if isinstance(e, OSError) else e
        return super()._translate_error(bare, self._client_path(path), raise_generic)


def jailed_transport(root: Path) -> JailedLocalTransport:
    """A transport rooted at ``root`` that cannot reach outside it."""
    return JailedLocalTransport(urlutils.local_path_to_url(str(root)))


class Storage:
    """Maps codebase names to shared repositories under ``<data>/repos``."""

    def __init__(self, repos_dir: Path) -> None:
        self.repos_dir = repos_dir

    def codebase_dir(self, codebase: str) -> Path:
        """The shared repository directory of an already-validated codebase name."""
        return self.repos_dir / codebase

    def ensure_repository(self, codebase: str) -> Path:
        """Return the codebase's shared repository, creating it atomically on first use."""
        target = self.codebase_dir(codebase)
        if target.is_dir():
            return target
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        # Build it aside and rename, so concurrent workers never see half a repository.
        staging = Path(tempfile.mkdtemp(prefix=f".new-{codebase}-", dir=self.repos_dir))
        try:
            create_shared_repository(staging)
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def ensure_parents(self, codebase: str, segments: tuple[str, ...]) -> None:
        """Create the directories above branch ``segments`` (never the branch itself)."""
        path = self.codebase_dir(codebase)
        for segment in segments[:-1]:
            path = path / segment
            try:
                path.mkdir()
            except FileExistsError:
                pass


def create_shared_repository(path: Path) -> None:
    """Make ``path`` a 2a shared repository without working trees."""
    from breezy.controldir import format_registry

    path.mkdir(parents=True, exist_ok=True)
    controldir_format = format_registry.make_controldir(SHARED_REPO_FORMAT)
    controldir = controldir_format.initialize_on_transport(jailed_transport(path))
    repository = controldir.create_repository(shared=True)
    repository.set_make_working_trees(False)


def branch_transport(settings: Settings, target: str) -> JailedLocalTransport:
    """A transport at ``<cb>[/<branch>]``, jailed to the codebase, every name checked."""
    codebase, segments = split_branch_path(target.strip("/"))
    root = Storage(settings.repos_dir).codebase_dir(codebase)
    if not root.is_dir():
        raise errors.NotBranchError(target)
    relpath = "/".join(urlutils.escape(segment) for segment in segments)
    return jailed_transport(root).clone(relpath) if relpath else jailed_transport(root)


def set_parent_location(settings: Settings, target: str, url: str) -> None:
    """Record ``url`` as the parent of the branch at ``<cb>/<branch>``."""
    from breezy.controldir import ControlDir

    branch = ControlDir.open_from_transport(branch_transport(settings, target)).open_branch()
    with branch.lock_write():
        branch.set_parent(url)


def break_lock(settings: Settings, target: str) -> list[str]:
    """Break the locks of the branch (and its repository) at ``<cb>[/<branch>]``."""
    from breezy.controldir import ControlDir

    controldir = ControlDir.open_from_transport(branch_transport(settings, target))
    broken: list[str] = []
    try:
        branch = controldir.open_branch()
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


def check_repositories(settings: Settings, codebases: list[str], repair: bool = False) -> int:
    """Verify repositories like ``brz check`` (healing first if asked); 0 when all are sound."""
    from breezy.check import check_dwim

    from .repair import remove_stale_staging, repair_codebase

    names = codebases or sorted(p.name for p in settings.repos_dir.iterdir() if p.is_dir()
                                and not p.name.startswith("."))
    if repair:
        for staging in remove_stale_staging(settings.repos_dir):
            print(f"removed staging directory {staging}")
    failed = 0
    for name in names:
        try:
            transport = branch_transport(settings, name)
            for line in repair_codebase(settings.repos_dir / name, transport) if repair else ():
                print(f"{name}: {line}")
            location = transport.local_abspath(".")
            check_dwim(location, verbose=False, do_branch=True, do_repo=True, do_tree=False)
        except (errors.BzrError, OSError) as exc:
            print(f"{name}: {exc}")
            failed += 1
        else:
            print(f"{name}: ok")
    return 1 if failed else 0
