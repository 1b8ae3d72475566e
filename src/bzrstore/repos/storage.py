"""Repositories on disk: names to paths (the jail), create-on-first-use, locks, checks."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import breezy.bzr  # noqa: F401 - registers the Bazaar formats with ControlDir
from breezy import urlutils
from breezy.transport import NoSuchFile
from breezy.transport.local import LocalTransport

SHARED_REPO_FORMAT = "2a"
# C0, DEL and C1: Breezy itself never names a file with one.
CONTROL_CHARACTER_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A LockDir's info file, held or being taken (lock/held/info, lock/<random>.tmp/info).
LOCK_INFO_RE = re.compile(r"/lock/[^/]+/info$")
# Opens a directory but fails (ELOOP/ENOTDIR) on a symlink or anything else.
NO_FOLLOW_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class JailedLocalTransport(LocalTransport):
    """A local transport that refuses any path whose real location leaves its jail.

    Breezy's chroot only checks path strings; this also stops symlinks planted
    inside a repository, and keeps filesystem paths out of error messages.
    """

    def __init__(self, base: str, jail: str | None = None, hide_lock_info: bool = False) -> None:
        super().__init__(base)
        self._jail = jail if jail is not None else os.path.realpath(self._local_base)
        self._hide_lock_info = hide_lock_info

    def clone(self, offset: str | None = None) -> JailedLocalTransport:
        """Clone within the same jail."""
        if offset is not None and CONTROL_CHARACTER_RE.search(urlutils.unescape(offset)):
            raise NoSuchFile(offset)
        base = self.base if offset is None else self.abspath(offset)
        return JailedLocalTransport(base, self._jail, self._hide_lock_info)

    def _abspath(self, relative_reference: str) -> str:
        path = super()._abspath(relative_reference)
        # Verb arguments name paths the URL checks never saw: no file or directory whose
        # name holds a control character is ever made or read (it could forge listings).
        if CONTROL_CHARACTER_RE.search(path, len(self._local_base)):
            raise NoSuchFile(self._client_path(path))
        if self._hide_lock_info and LOCK_INFO_RE.search(path):
            raise NoSuchFile(self._client_path(path))
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


def jailed_transport(root: Path, hide_lock_info: bool = False) -> JailedLocalTransport:
    """A transport rooted at ``root`` that cannot reach outside it.

    With ``hide_lock_info`` (readers: they never lock), a lock's ``info`` file is
    absent: it names the server's host, OS user, pid and the lock's nonce.
    """
    return JailedLocalTransport(urlutils.local_path_to_url(str(root)),
                                hide_lock_info=hide_lock_info)


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
        # The prefix leaves the codebase name out: a 255-character name fits no longer one.
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=self.repos_dir))
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
        """Create the directories above branch ``segments`` (never the branch itself).

        Walks down from the codebase root by directory descriptors and never follows a
        symlink, so one planted inside a repository cannot make it create directories
        elsewhere. At a symlink, a file or any other error it stops: the request then
        fails inside the jailed transport, with a smart error the client understands.
        """
        try:  # the root is the operator's (it may be a symlink); only what is below it not
            fd = os.open(self.codebase_dir(codebase), os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            for segment in segments[:-1]:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(segment, dir_fd=fd)
                parent, fd = fd, os.open(segment, NO_FOLLOW_DIRECTORY, dir_fd=fd)
                os.close(parent)
        except OSError:
            return
        finally:
            os.close(fd)


def create_shared_repository(path: Path) -> None:
    """Make ``path`` a 2a shared repository without working trees."""
    from breezy.controldir import format_registry

    path.mkdir(parents=True, exist_ok=True)
    controldir_format = format_registry.make_controldir(SHARED_REPO_FORMAT)
    controldir = controldir_format.initialize_on_transport(jailed_transport(path))
    repository = controldir.create_repository(shared=True)
    repository.set_make_working_trees(False)
