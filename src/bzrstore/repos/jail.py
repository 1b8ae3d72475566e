"""The jail: a local transport that never reaches outside a codebase's repository.

Breezy's ``ChrootServer`` (the smart server's) checks only path strings; this transport
also resolves symlinks, refuses names with control characters and keeps the server's
filesystem paths out of error messages. Every server-side open goes through it.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from breezy import urlutils
from breezy.transport import NoSuchFile
from breezy.transport.local import LocalTransport

# C0, DEL and C1: Breezy itself never names a file with one.
CONTROL_CHARACTER_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A LockDir's info file, held or being taken (lock/held/info, lock/<random>.tmp/info).
LOCK_INFO_RE = re.compile(r"/lock/[^/]+/info$")
# Path parts that make a path non-normal: such a path is resolved in full.
ODD_PARTS = frozenset({"", ".", ".."})


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
        if not self._inside(path):
            raise NoSuchFile(self._client_path(path))
        return path

    def _inside(self, path: str) -> bool:
        """Whether ``path``, symlinks resolved, lies in the jail.

        A push opens about 150 paths: resolving each in full (``realpath`` lstats every
        part from ``/``) cost more than the rest of the jail. The jail is already real,
        so a normal path below it is real unless a part below the jail is a symlink:
        only those parts are looked at, and any symlink sends the path to ``realpath``.
        """
        prefix = self._jail + os.sep
        if path.startswith(prefix):
            parts = path[len(prefix) :].split(os.sep)
            if ODD_PARTS.isdisjoint(parts) and not _any_symlink(self._jail, parts):
                return True
        real = os.path.realpath(path)
        return real == self._jail or real.startswith(prefix)

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


def _any_symlink(root: str, parts: list[str]) -> bool:
    """Whether a part of ``root/parts…`` is a symlink; parts past a missing one are not."""
    path = root
    for part in parts:
        path = f"{path}{os.sep}{part}"
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False  # realpath() keeps the rest as written: nothing to follow
    return False


def jailed_transport(root: Path, hide_lock_info: bool = False) -> JailedLocalTransport:
    """A transport rooted at ``root`` that cannot reach outside it.

    With ``hide_lock_info`` (readers: they never lock), a lock's ``info`` file is
    absent: it names the server's host, OS user, pid and the lock's nonce.
    """
    return JailedLocalTransport(urlutils.local_path_to_url(str(root)),
                                hide_lock_info=hide_lock_info)
