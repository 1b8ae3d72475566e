"""The tree at a revision, through Breezy: directory listings, file texts, raw bytes.

Every read is bounded whatever the repository holds. A listing shows at most
``MAX_LISTING_ENTRIES`` entries of one directory. A file view reads a file only when it
is at most ``MAX_READ_BYTES`` (judged from the inventory, before reading: Breezy
extracts a text whole, so reading even its first byte costs its whole size) and shows
at most ``MAX_VIEW_BYTES`` of it. Raw bytes are streamed as Breezy hands them over.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from breezy.revision import NULL_REVISION

from bzrstore.repos.revisions import UnknownRevision, check_path, release_caches

# Entries one directory listing shows (sorted: directories first, then by name). The
# medium benchmark's largest directory has ~200; 5,000 rows is a ~1 MiB page.
MAX_LISTING_ENTRIES = 5_000
# Text a file view shows; beyond it the page says so and links to the raw file.
MAX_VIEW_BYTES = 512 * 1024
# Lines a file view shows: what a page costs to highlight and render follows lines.
MAX_VIEW_LINES = 10_000
# Largest file a view reads at all; larger ones are only offered raw. The same bound as
# the diff's (``BZRSTORE_DIFF_MAX_FILE_BYTES``' default), above which diffs say "binary".
MAX_READ_BYTES = 4 * 1024 * 1024
# Breezy's rule for a binary file (``textfile.check_text_lines``, what diffs use): a NUL
# byte in its first 1024 bytes. The view and the diff then agree on what is binary.
BINARY_SNIFF_BYTES = 1024
# The root directory's path in a tree.
ROOT = ""


class NoSuchPath(UnknownRevision):
    """A path the tree at that revision does not have (a 404)."""


class WrongKind(NoSuchPath):
    """A path of another kind than asked for: a file where a directory was expected."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a directory: its kind, size and the revision that last changed it."""

    name: str
    path: str
    kind: str  # file, directory, symlink or tree-reference
    size: int | None  # files only
    executable: bool
    last_changed: bytes  # the inventory records it for every entry: free to show
    target: str | None = None  # symlinks only
    file_id: bytes = b""  # with last_changed, names the text: a cache key that never stales


@dataclass(frozen=True)
class DirectoryListing:
    """The entries of one directory at a revision, at most ``MAX_LISTING_ENTRIES``."""

    path: str
    entries: list[TreeEntry]
    total: int  # entries the directory has; more than shown when truncated

    @property
    def truncated(self) -> bool:
        """Whether the directory has more entries than the listing shows."""
        return self.total > len(self.entries)


@dataclass(frozen=True)
class FileText:
    """A file at a revision and as much of its content as a page shows."""

    entry: TreeEntry
    file_id: bytes
    binary: bool
    too_large: bool  # over MAX_READ_BYTES: not read at all
    text: bytes  # the first MAX_VIEW_BYTES / MAX_VIEW_LINES; empty if binary or too large
    truncated: bool  # the file goes on past ``text``

    @property
    def shown(self) -> bool:
        """Whether the content is shown as text."""
        return not (self.binary or self.too_large)


def tree_path(path: str) -> str:
    """``path`` as a tree path: '' for the root, else checked by ``check_path``."""
    return ROOT if path.strip("/") == ROOT else check_path(path)


def revision_tree(repository: Any, revid: bytes) -> Any:
    """The tree of ``revid``; the caller holds ``repository``'s read lock."""
    if revid == NULL_REVISION:
        raise UnknownRevision("the empty revision (null:) has no tree")
    return repository.revision_tree(revid)


def find_entry(tree: Any, path: str) -> tuple[bytes, TreeEntry]:
    """The file id and entry of ``path`` in ``tree``, or NoSuchPath."""
    found = next(iter(tree.iter_entries_by_dir(specific_files=[path])), None)
    if found is None or found[0] != path:
        raise NoSuchPath(f"no such path at this revision: {path or '/'}")
    return found[1].file_id, _entry(path, found[1])


def find_file(tree: Any, path: str) -> tuple[bytes, TreeEntry]:
    """The file id and entry of the file ``path`` in ``tree``: NoSuchPath, or WrongKind."""
    file_id, entry = find_entry(tree, path)
    if entry.kind != "file":
        raise WrongKind(f"not a file: {path or '/'}", entry.kind)
    return file_id, entry


def _entry(path: str, ie: Any) -> TreeEntry:
    """A ``TreeEntry`` from Breezy's inventory entry ``ie`` at ``path``."""
    is_file = ie.kind == "file"
    return TreeEntry(
        name=ie.name or "", path=path, kind=ie.kind,
        size=ie.text_size if is_file else None, executable=bool(is_file and ie.executable),
        last_changed=ie.revision, target=ie.symlink_target if ie.kind == "symlink" else None,
        file_id=ie.file_id)


def list_directory(repository: Any, revid: bytes, path: str,
                   limit: int = MAX_LISTING_ENTRIES) -> DirectoryListing:
    """The directory ``path`` at ``revid``: directories first, then files, by name."""
    path = tree_path(path)
    if revid == NULL_REVISION and path == ROOT:  # a branch with no revisions yet
        return DirectoryListing(ROOT, [], 0)
    with repository.lock_read():
        tree = revision_tree(repository, revid)
        _, directory = find_entry(tree, path)
        if directory.kind != "directory":
            raise WrongKind(f"not a directory: {path}", directory.kind)
        children = list(tree.iter_child_entries(path))
    children.sort(key=lambda ie: (ie.kind != "directory", ie.name))
    prefix = f"{path}/" if path else ""
    entries = [_entry(prefix + ie.name, ie) for ie in children[:limit]]
    return DirectoryListing(path, entries, len(children))


def is_binary(head: bytes) -> bool:
    """Whether content starting with ``head`` is binary, by Breezy's rule."""
    return b"\0" in head[:BINARY_SNIFF_BYTES]


def read_file(repository: Any, revid: bytes, path: str, max_bytes: int = MAX_VIEW_BYTES,
              max_lines: int = MAX_VIEW_LINES, max_read: int = MAX_READ_BYTES) -> FileText:
    """The file ``path`` at ``revid``, its text cut at ``max_bytes`` or ``max_lines``."""
    path = tree_path(path)
    with repository.lock_read():
        tree = revision_tree(repository, revid)
        file_id, entry = find_file(tree, path)
        if (entry.size or 0) > max_read:
            return FileText(entry, file_id, False, True, b"", True)
        content = tree.get_file_text(path)
    release_caches(repository)
    if is_binary(content):
        return FileText(entry, file_id, True, False, b"", False)
    text = _cut(content, max_bytes, max_lines)
    return FileText(entry, file_id, False, False, text, len(text) < len(content))


def _cut(content: bytes, max_bytes: int, max_lines: int) -> bytes:
    """``content`` up to ``max_bytes`` and ``max_lines``, ending at a line's end if it can."""
    text = content[:max_bytes]
    end = 0
    for _ in range(max_lines):
        end = text.find(b"\n", end) + 1
        if end == 0:
            break
    else:
        text = text[:end]
    if len(text) < len(content) and not text.endswith(b"\n") and b"\n" in text:
        text = text[:text.rindex(b"\n") + 1]  # no half line (nor half a UTF-8 character)
    return text


def stream_file(repository: Any, revid: bytes, path: str
                ) -> tuple[TreeEntry, Iterator[bytes]]:
    """The entry of file ``path`` at ``revid`` and its bytes, streamed.

    The path is checked before this returns (so a caller can still answer 404); the
    bytes are read as the iterator is consumed, one file's text in memory at most.
    """
    path = tree_path(path)
    with repository.lock_read():
        file_id, entry = find_file(revision_tree(repository, revid), path)
    return entry, _file_bytes(repository, file_id, entry.last_changed)


def _file_bytes(repository: Any, file_id: bytes, file_revision: bytes) -> Iterator[bytes]:
    """The chunks of one file text, with the repository read-locked while they come."""
    try:
        with repository.lock_read():
            for _, chunks in repository.iter_files_bytes([(file_id, file_revision, None)]):
                yield from chunks
    finally:
        release_caches(repository)
