"""The archive a codebase moves in between nodes, and writing one (``bzrstore export``).

An archive holds, in this order: ``bzrstore-manifest.json`` (the codebase's state, read
under the repository's write lock), ``repository/…`` (every directory and file of
``<data>/repos/<cb>/`` but the contents of lock directories) and ``bzrstore-sha256sums``
(a digest of every file, computed while streaming). ``unpack.py`` checks the digests,
then opens the copy with Breezy and requires the very state the manifest describes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

from bzrstore.repos.codebase_state import CodebaseStateError, frozen_codebase, read_state

ARCHIVE_VERSION = 1
MANIFEST_NAME = "bzrstore-manifest.json"
SUMS_NAME = "bzrstore-sha256sums"
REPO_PREFIX = "repository"
# A manifest lists every branch tip and ghost; far below this for any real codebase.
MAX_MANIFEST_BYTES = 64 * 1024**2
# Piece size for hashing and copying files, so no file is ever held whole in memory.
CHUNK_BYTES = 1024**2


class TransferError(Exception):
    """An export, import or drop that was refused; the message says why."""


@contextmanager
def refused_as_transfer() -> Iterator[None]:
    """Turn the repository's refusals (absent, locked, not as described) into ours.

    ``repos`` says what is wrong with a codebase's state; a transfer is what the
    operator asked for, so the CLI catches only ``TransferError``.
    """
    try:
        yield
    except CodebaseStateError as exc:
        raise TransferError(str(exc)) from exc


class _HashingReader:
    """Reads a file for tarfile while computing its SHA-256."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.sha256.update(data)
        return data


def export_codebase(root: Path, codebase: str, out: IO[bytes],
                    wait_seconds: float) -> dict[str, Any]:
    """Write the codebase's repository to ``out`` as a tar stream; return its manifest."""
    with refused_as_transfer(), frozen_codebase(root, codebase, wait_seconds) as (
            repository, branches):
        state = read_state(repository, branches, root, codebase)
        manifest = {"bzrstore_archive": ARCHIVE_VERSION, "bzrstore_version": version("bzrstore"),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **state}
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST_NAME, json.dumps(manifest, indent=1).encode())
            sums = "".join(f"{digest}  {name}\n" for name, digest in _add_tree(tar, root))
            _add_bytes(tar, SUMS_NAME, sums.encode())
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_tree(tar: tarfile.TarFile, root: Path) -> Iterator[tuple[str, str]]:
    """Add ``root`` under ``repository/``; yield (member name, SHA-256) of each file."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(directory)
        for name in [*dirnames, *sorted(filenames)]:
            path = here / name
            parts = path.relative_to(root).parts
            if _skipped(parts):
                continue
            member = "/".join((REPO_PREFIX, *parts))
            stat = path.lstat()
            info = tarfile.TarInfo(member)
            info.mtime, info.mode = int(stat.st_mtime), stat.st_mode & 0o755
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise TransferError(f"not a file or directory, refusing to export: {member}")
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                continue
            info.size = stat.st_size
            with path.open("rb") as fh:
                reader = _HashingReader(fh)
                tar.addfile(info, reader)
            yield member, reader.sha256.hexdigest()


def _skipped(parts: tuple[str, ...]) -> bool:
    """Inside ``.bzr/<x>/lock/`` or ``.bzr/repository/upload/``: not part of a copy.

    Held locks must not travel (the copy would start out locked; the export's own locks
    are among them), and ``upload/`` holds only packs of pushes that never finished.
    """
    return any(part == ".bzr" and len(parts) > i + 3
               and (parts[i + 2] == "lock" or parts[i + 1:i + 3] == ("repository", "upload"))
               for i, part in enumerate(parts))
