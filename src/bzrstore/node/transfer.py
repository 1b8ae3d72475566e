"""Codebase transfer between nodes: a repository as a verified tar stream, and back.

An archive holds, in this order: ``bzrstore-manifest.json`` (the codebase's state, read
under the repository's write lock), ``repository/…`` (every directory and file of
``<data>/repos/<cb>/`` but the contents of lock directories) and ``bzrstore-sha256sums``
(a digest of every file, computed while streaming). Import checks the digests, then
opens the copy with Breezy and requires the very state the manifest describes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import IO, Any

from bzrstore.repos.codebase_state import (
    STATE_KEYS,
    TransferError,
    describe,
    frozen_codebase,
    read_state,
    state_digest,
    verify_copy,
)
from bzrstore.repos.names import InvalidName, check_codebase

ARCHIVE_VERSION = 1
MANIFEST_NAME = "bzrstore-manifest.json"
SUMS_NAME = "bzrstore-sha256sums"
REPO_PREFIX = "repository"
# A manifest lists every branch tip and ghost; far below this for any real codebase.
MAX_MANIFEST_BYTES = 64 * 1024**2
# Piece size for hashing and copying files, so no file is ever held whole in memory.
CHUNK_BYTES = 1024**2


# --- export ------------------------------------------------------------------------


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
    with frozen_codebase(root, codebase, wait_seconds) as (repository, branches):
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


# --- import ------------------------------------------------------------------------


def import_codebase(repos_dir: Path, source: IO[bytes], replace: bool,
                    wait_seconds: float) -> dict[str, Any]:
    """Extract an archive beside the repositories, verify it, rename it into place."""
    repos_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=repos_dir))
    try:
        manifest = _extract(source, staging, repos_dir, replace)
        copy = staging / REPO_PREFIX
        verify_copy(copy, manifest)
        _move_into_place(copy, repos_dir / manifest["codebase"], replace, wait_seconds)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(source: IO[bytes], staging: Path, repos_dir: Path,
             replace: bool) -> dict[str, Any]:
    try:
        with tarfile.open(fileobj=source, mode="r|*") as tar:
            members = iter(tar)
            manifest = _read_manifest(tar, next(members, None))
            if (repos_dir / manifest["codebase"]).exists() and not replace:
                raise TransferError(_exists_message(manifest["codebase"]))
            files, sums = _extract_members(tar, members, staging)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise TransferError(f"bad or truncated archive: {exc}") from exc
    if sums is None:
        raise TransferError(f"bad or truncated archive: it ends before {SUMS_NAME}")
    for name in sorted(files.keys() | sums.keys()):
        if files.get(name) != sums.get(name):
            raise TransferError(f"checksum mismatch in the archive: {name}")
    return manifest


def _exists_message(codebase: str) -> str:
    return f"codebase {codebase} already has a repository here (--replace replaces it)"


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo | None) -> dict[str, Any]:
    if member is None or member.name != MANIFEST_NAME or not member.isfile():
        raise TransferError(f"not a bzrstore archive: it does not start with {MANIFEST_NAME}")
    if member.size > MAX_MANIFEST_BYTES:
        raise TransferError(f"{MANIFEST_NAME} is too large")
    try:
        manifest = json.loads(tar.extractfile(member).read())
        if manifest.get("bzrstore_archive") != ARCHIVE_VERSION:
            raise TransferError(f"unsupported archive version {manifest.get('bzrstore_archive')}")
        if not all(key in manifest for key in STATE_KEYS):
            raise ValueError("missing keys")
        check_codebase(manifest["codebase"])
    except (ValueError, AttributeError, TypeError, InvalidName) as exc:
        raise TransferError(f"bad {MANIFEST_NAME}: {exc}") from exc
    return manifest


def _extract_members(tar: tarfile.TarFile, members: Iterator[tarfile.TarInfo],
                     staging: Path) -> tuple[dict[str, str], dict[str, str] | None]:
    """Write ``repository/…`` members under ``staging``; return file digests and the sums."""
    files: dict[str, str] = {}
    for member in members:
        if member.name == SUMS_NAME and member.isfile():
            sums = _parse_sums(tar.extractfile(member).read(MAX_MANIFEST_BYTES))
            if next(members, None) is not None:
                raise TransferError(f"bad archive: members after {SUMS_NAME}")
            return files, sums
        target = _member_target(member, staging)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            files[member.name] = _write_file(tar, member, target)
    return files, None


def _member_target(member: tarfile.TarInfo, staging: Path) -> Path:
    """Where a member goes; only plain files and directories inside ``repository/``."""
    name = PurePosixPath(member.name)
    if (name.is_absolute() or ".." in name.parts or not name.parts
            or name.parts[0] != REPO_PREFIX):
        raise TransferError(f"bad archive: unsafe member name {member.name!r}")
    if not (member.isfile() or member.isdir()):
        raise TransferError(f"bad archive: {member.name!r} is not a file or directory")
    try:
        tarfile.data_filter(member, str(staging))  # the stdlib's own check, as a second guard
    except tarfile.FilterError as exc:
        raise TransferError(f"bad archive: {exc}") from exc
    return staging.joinpath(*name.parts)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    """Copy one member to ``target`` (never over an existing file); return its SHA-256."""
    digest = hashlib.sha256()
    source = tar.extractfile(member)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("xb") as out:
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
    except FileExistsError as exc:
        raise TransferError(f"bad archive: {member.name!r} appears twice") from exc
    return digest.hexdigest()


def _parse_sums(data: bytes) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    return sums


def _move_into_place(copy: Path, target: Path, replace: bool, wait_seconds: float) -> None:
    if target.exists():
        if not replace:
            raise TransferError(_exists_message(target.name))
        with frozen_codebase(target, target.name, wait_seconds):
            aside = Path(tempfile.mkdtemp(prefix=".replaced-", dir=target.parent))
            os.rename(target, aside / target.name)  # still locked: no push lands in it
            try:
                os.rename(copy, target)
            except OSError:
                os.rename(aside / target.name, target)
                raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    try:
        os.rename(copy, target)  # atomic; fails if a repository appeared meanwhile
    except OSError as exc:
        raise TransferError(f"{_exists_message(target.name)}: it appeared meanwhile") from exc


# --- after a move ------------------------------------------------------------------


def drop_local(root: Path, codebase: str, expected_state: str, wait_seconds: float) -> str:
    """Delete this node's copy if its state is still ``expected_state``; return a line."""
    with frozen_codebase(root, codebase, wait_seconds) as (repository, branches):
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
