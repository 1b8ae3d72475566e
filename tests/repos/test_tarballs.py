"""A revision's tree as a streamed ``.tar.gz`` (``repos/tarballs.py``), without HTTP."""

from __future__ import annotations

import gc
import io
import os
import tarfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from breezy.revision import NULL_REVISION

from bzrstore.repos import tarballs
from bzrstore.repos.revisions import UnknownRevision, open_repository
from bzrstore.repos.tarballs import write_tarball
from helpers import BROWSE_BINARY, Browsed, make_branch

MIB = 1024 * 1024


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {member.name: member for member in archive.getmembers()}


def read_member(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        extracted = archive.extractfile(name)
        assert extracted is not None
        return extracted.read()


def test_the_archive_holds_the_tree_under_its_root(browsed: Browsed):
    data = b"".join(write_tarball(browsed.repository, browsed.revids[-1], "alpha-r3"))
    found = members(data)
    assert set(found) == {
        "alpha-r3", "alpha-r3/src", "alpha-r3/src/lib", "alpha-r3/src/lib/util.py",
        "alpha-r3/src/main.py", "alpha-r3/README.txt", "alpha-r3/data.bin", "alpha-r3/empty.txt",
        "alpha-r3/link", "alpha-r3/no-newline.txt", "alpha-r3/ünïcode näme.txt"}
    assert found["alpha-r3/src"].isdir()
    assert found["alpha-r3/src/main.py"].mode == 0o755
    assert found["alpha-r3/README.txt"].mode == 0o644
    assert found["alpha-r3/link"].issym() and found["alpha-r3/link"].linkname == "README.txt"
    assert read_member(data, "alpha-r3/data.bin") == BROWSE_BINARY
    assert read_member(data, "alpha-r3/README.txt") == b"hello\nrevision 2\nbye\n"
    assert read_member(data, "alpha-r3/empty.txt") == b""
    assert read_member(data, "alpha-r3/ünïcode näme.txt") == "ça va\n".encode()


def test_directories_come_before_what_they_hold(browsed: Browsed):
    data = b"".join(write_tarball(browsed.repository, browsed.revids[-1], "r"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        order = [member.name for member in archive.getmembers()]
    for name in order:
        parent = name.rpartition("/")[0]
        assert parent == "" or order.index(parent) < order.index(name)


def test_an_older_revision_and_its_mtime(browsed: Browsed):
    data = b"".join(write_tarball(browsed.repository, browsed.revids[0], "old"))
    assert read_member(data, "old/README.txt") == b"hello\nrevision 0\nbye\n"
    timestamp = int(browsed.repository.get_revision(browsed.revids[0]).timestamp)
    assert {member.mtime for member in members(data).values()} == {timestamp}


def test_the_same_revision_gives_the_same_bytes(browsed: Browsed):
    one = b"".join(write_tarball(browsed.repository, browsed.revids[-1], "r"))
    two = b"".join(write_tarball(browsed.repository, browsed.revids[-1], "r"))
    assert one == two


def test_the_revision_is_checked_before_streaming(browsed: Browsed):
    with pytest.raises(UnknownRevision):
        write_tarball(browsed.repository, NULL_REVISION, "r")


def test_closing_the_stream_early_leaves_the_repository_usable(browsed: Browsed):
    stream = write_tarball(browsed.repository, browsed.revids[-1], "r")
    next(stream)
    stream.close()  # the client hung up
    assert not browsed.repository.is_locked()
    assert b"".join(write_tarball(browsed.repository, browsed.revids[-1], "r"))


def test_a_text_of_the_wrong_size_stops_the_archive(browsed: Browsed, monkeypatch):
    real = browsed.repository.iter_files_bytes

    def short(wanted: Any) -> Any:
        for key, chunks in real(wanted):
            yield key, [b"".join(chunks)[:-1]]

    monkeypatch.setattr(browsed.repository, "iter_files_bytes", short)
    with pytest.raises(tarballs.TarballBroken, match="the inventory says"):
        b"".join(write_tarball(browsed.repository, browsed.revids[-1], "r"))


def write_big_files(path: Path, n: int) -> None:
    """Twenty-four 1 MiB files of random bytes: a tree far larger than what is held."""
    for i in range(24):
        (path / f"blob{i:02}.bin").write_bytes(os.urandom(MIB))


def test_memory_stays_bounded_whatever_the_tree_size(tmp_path: Path):
    """A 24 MiB tree of incompressible files streams holding well under half of it.

    What is held is one 2a group being read (up to ~4 MiB) and the small block cache:
    measured 7.4 MiB at its peak for 12 MiB and for 48 MiB trees alike.
    """
    _, revids = make_branch(tmp_path / "big", 1, write_big_files)
    repository = open_repository(tmp_path / "big")
    gc.collect()
    tracemalloc.start()
    try:
        total = 0
        for chunk in write_tarball(repository, revids[0].encode(), "big"):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 24 * MIB  # random bytes do not compress
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB for a 24 MiB tree"
