"""A revision's tree as a ``.tar.gz``, streamed in bounded memory whatever the tree's size.

Breezy's own exporter (``breezy.archive.tar``) is a generator too, but asks for one file
at a time (one repository read each) and gzips through a ``BytesIO``. Here the sizes
come from the inventory, so each tar header is written before its file is read; files
are read in batches (one read per batch, in the repository's order) and their chunks
pass straight through ``zlib``. What a worker holds at once is one batch's bookkeeping
and one file's text (Breezy extracts texts whole), never the tree.
"""

from __future__ import annotations

import gc
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any

from breezy.bzr import chk_map
from breezy.lru_cache import LRUSizeCache

from bzrstore.memory import trim_heap
from bzrstore.repos.revisions import release_caches
from bzrstore.repos.trees import revision_tree

BLOCK = tarfile.BLOCKSIZE
MIB = 1024 * 1024
# Files read from the repository at once, or fewer when their texts add up to
# BATCH_BYTES. A 2a group holds many files (and their older versions), and one read
# decompresses each group it touches once: on the medium benchmark tree, batches of 20
# files took 25 s, of 500 7.6 s. What a batch holds is its bookkeeping (a TarInfo and
# a key per file, under 1 KiB each); the texts come one at a time.
BATCH_FILES = 2_000
BATCH_BYTES = 64 * MIB
# Decompressed groups kept while streaming (Breezy's default is 50 MiB a store): with
# it a worker grew by 69 MiB streaming the medium tree, with 4 MiB by 20 MiB, as fast.
BLOCK_CACHE_BYTES = 4 * MIB
# Compressed bytes gathered before a chunk is handed to the response.
CHUNK_BYTES = 64 * 1024
# zlib's fastest level. The medium tree (47 MiB of tar) took 1.1 s at level 1 for
# 21 MiB, 5.2 s at gzip's default 6 for 19 MiB: CPU is what a busy node lacks.
GZIP_LEVEL = 1
# wbits for a gzip wrapper (header and CRC) around the deflate stream.
GZIP_WBITS = 16 + zlib.MAX_WBITS
FILE_MODE, EXECUTABLE_MODE, DIRECTORY_MODE = 0o644, 0o755, 0o755


class TarballBroken(Exception):
    """A file's text is not the size its inventory entry says: the tar would be corrupt."""


def write_tarball(repository: Any, revid: bytes, root: str) -> Iterator[bytes]:
    """The tree of ``revid`` as a gzipped tar whose members sit under ``root``/, streamed.

    Checks the revision before returning (a caller can still answer 404); the archive
    is built as the iterator is consumed. Every member's mtime is the revision's
    commit time, so the same revision always gives the same bytes.
    """
    with repository.lock_read():
        revision_tree(repository, revid)
        mtime = int(repository.get_revision(revid).timestamp)
    return _gzipped(_tar_blocks(repository, revid, root.strip("/"), mtime))


def _gzipped(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """``blocks`` gzip-compressed, in chunks of about CHUNK_BYTES."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
    pending: list[bytes] = []
    size = 0
    for block in blocks:
        out = compressor.compress(block)
        if out:
            pending.append(out)
            size += len(out)
            if size >= CHUNK_BYTES:
                yield b"".join(pending)
                pending, size = [], 0
    pending.append(compressor.flush())
    yield b"".join(pending)


def _tar_blocks(repository: Any, revid: bytes, root: str, mtime: int) -> Iterator[bytes]:
    """The tar stream (headers, texts, padding, end blocks) of the tree of ``revid``."""
    texts = repository.texts
    default_cache = getattr(texts, "_group_cache", None)
    if default_cache is not None:
        texts._group_cache = LRUSizeCache(max_size=BLOCK_CACHE_BYTES)
    try:
        with repository.lock_read():
            tree = revision_tree(repository, revid)
            batch: dict[bytes, tuple[tarfile.TarInfo, bytes]] = {}
            batch_bytes = 0
            for path, ie in _entries(tree):
                info = _member(root, path, ie, mtime)
                if ie.kind != "file":
                    yield _header(info)
                    continue
                batch[ie.file_id] = (info, ie.revision)
                batch_bytes += info.size
                if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                    yield from _files(repository, batch)
                    batch, batch_bytes = {}, 0
            yield from _files(repository, batch)
        yield b"\0" * (2 * BLOCK)  # the end-of-archive marker
    finally:
        if default_cache is not None:
            texts._group_cache = default_cache
        release_caches(repository)
        gc.collect()
        trim_heap()


def _entries(tree: Any) -> Iterator[tuple[str, Any]]:
    """Every entry of ``tree`` with its path: directories first (each after its parent),
    then the others in storage order.

    Breezy's ``iter_entries_by_dir`` keeps every entry it has read, and its CHK map every
    page (about 2 KiB a file: 20 MiB for 10,000 files, 52 MiB for 40,000). This reads
    the inventory's id-to-entry pages twice as a fetch does (``iter_interesting_nodes``:
    each page read, its entries handed on, the page dropped), keeping only the
    directories' paths: what the walk holds follows the number of directories.
    """
    inventory = tree.root_inventory
    if getattr(inventory, "id_to_entry", None) is None:  # not a CHK inventory (before 2a)
        yield from tree.iter_entries_by_dir()
        return
    directories: dict[bytes, tuple[bytes | None, str]] = {}
    for ie in _read_entries(tree, directories=True):
        directories[ie.file_id] = (ie.parent_id, ie.name)
    paths = {file_id: _path(file_id, directories) for file_id in directories}
    for file_id, path in sorted(paths.items(), key=lambda item: item[1]):
        yield path, _directory(file_id, directories)
    for ie in _read_entries(tree, directories=False):
        parent = paths[ie.parent_id]
        yield (f"{parent}/{ie.name}" if parent else ie.name), ie


def _read_entries(tree: Any, directories: bool) -> Iterator[Any]:
    """The directories (or the other entries) of a CHK inventory, none of them kept."""
    inventory = tree.root_inventory
    pages = chk_map.iter_interesting_nodes(tree._repository.chk_bytes,
                                           [inventory.id_to_entry.key()], [])
    for _, items in pages:
        for _, data in items:
            if data.startswith(b"dir: ") is directories:
                ie = inventory._bytes_to_entry(data)
                inventory._fileid_to_entry_cache.pop(ie.file_id, None)  # it keeps them all
                yield ie


def _path(file_id: bytes, directories: dict[bytes, tuple[bytes | None, str]]) -> str:
    """The path of directory ``file_id`` ('' for the root)."""
    names = []
    parent_id, name = directories[file_id]
    while parent_id is not None:
        names.append(name)
        parent_id, name = directories[parent_id]
    return "/".join(reversed(names))


def _directory(file_id: bytes, directories: dict[bytes, tuple[bytes | None, str]]) -> Any:
    """A stand-in inventory entry for a directory: what ``_member`` reads of it."""
    return _Directory(file_id, directories[file_id][1])


class _Directory:
    kind = "directory"

    def __init__(self, file_id: bytes, name: str) -> None:
        self.file_id, self.name = file_id, name


def _member(root: str, path: str, ie: Any, mtime: int) -> tarfile.TarInfo:
    """The tar header of entry ``ie`` at ``path``."""
    name = f"{root}/{path}" if path else root
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    if ie.kind == "file":
        info.type, info.size = tarfile.REGTYPE, ie.text_size
        info.mode = EXECUTABLE_MODE if ie.executable else FILE_MODE
    elif ie.kind == "symlink":
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, ie.symlink_target, 0o777
    else:  # a directory, or a nested tree's root (exported as an empty directory)
        info.type, info.mode = tarfile.DIRTYPE, DIRECTORY_MODE
        info.name += "/"
    return info


def _header(info: tarfile.TarInfo) -> bytes:
    """The header blocks of ``info``: PAX, so long and non-ASCII names survive."""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _files(repository: Any, batch: dict[bytes, tuple[tarfile.TarInfo, bytes]]
           ) -> Iterator[bytes]:
    """Header, text and padding of each file in ``batch``, in the order the repository reads."""
    if not batch:
        return
    wanted = [(file_id, revision, file_id) for file_id, (_, revision) in batch.items()]
    for file_id, chunks in repository.iter_files_bytes(wanted):
        info = batch[file_id][0]
        yield _header(info)
        written = 0
        for chunk in chunks:
            written += len(chunk)
            if written > info.size:
                break
            yield chunk
        if written != info.size:
            raise TarballBroken(f"{info.name}: {written} bytes, the inventory says {info.size}")
        yield b"\0" * (-info.size % BLOCK)
    # What this batch decompressed is of no use to the next batches (other files).
    release_caches(repository)
