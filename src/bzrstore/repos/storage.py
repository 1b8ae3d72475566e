"""Repositories on disk: codebase names to directories, created on first use."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import breezy.bzr  # noqa: F401 - registers the Bazaar formats with ControlDir

from bzrstore.repos.jail import jailed_transport

SHARED_REPO_FORMAT = "2a"
# Opens a directory but fails (ELOOP/ENOTDIR) on a symlink or anything else.
NO_FOLLOW_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


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
