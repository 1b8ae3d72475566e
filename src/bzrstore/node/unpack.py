"""Putting an archive in place (``bzrstore import``): extract aside, verify, rename.

Nothing reaches ``<data>/repos/<cb>`` until every file's digest matches the archive's
list and Breezy, opening the copy, finds the state its manifest describes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from bzrstore.node.archive import (
    ARCHIVE_VERSION,
    CHUNK_BYTES,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    REPO_PREFIX,
    SUMS_NAME,
    TransferError,
    refused_as_transfer,
)
from bzrstore.repos.codebase_state import STATE_KEYS, frozen_codebase, verify_copy
from bzrstore.repos.names import InvalidName, check_codebase


def import_codebase(repos_dir: Path, source: IO[bytes], replace: bool,
                    wait_seconds: float) -> dict[str, Any]:
    """Extract an archive beside the repositories, verify it, rename it into place."""
    repos_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=repos_dir))
    try:
        manifest = _extract(source, staging, repos_dir, replace)
        copy = staging / REPO_PREFIX
        with refused_as_transfer():
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
        with refused_as_transfer(), frozen_codebase(target, target.name, wait_seconds):
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
