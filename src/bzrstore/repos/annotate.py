"""Annotate: the revision that last changed each line of a file, within a budget, cached.

Breezy's annotator reads and diffs every version of the file in its history, so its cost
follows that history: 0.13 s for a hot file with 59 versions, seconds for one with
hundreds. Its answer for one file text never changes: a text is named by (file id, the
revision that last changed it), and neither that text nor its ancestry can change. So
annotations are cached under that key (``line_cache.py``), and a cold one is
stopped at a deadline (checked between versions) and at a file size.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

from breezy import osutils
from breezy.annotate import Annotator

from bzrstore.memory import trim_heap
from bzrstore.repos.line_cache import LineCache, line_key
from bzrstore.repos.revisions import release_caches
from bzrstore.repos.trees import (
    MAX_READ_BYTES,
    TreeEntry,
    find_file,
    is_binary,
    revision_tree,
    tree_path,
)

# Largest file annotated: the view's read bound; annotate reads every version of it.
MAX_ANNOTATE_BYTES = MAX_READ_BYTES
# How long a cold annotate may run. Checked between file versions, each of which costs
# one extraction and one diff of the file (about 2 ms for 25 KB, measured).
ANNOTATE_TIMEOUT_SECONDS = 8.0


class AnnotateTimedOut(Exception):
    """Annotating took longer than its budget."""


@dataclass(frozen=True)
class Annotation:
    """A file's lines, each with the revision that last changed it, or why there are none."""

    entry: TreeEntry
    lines: list[tuple[bytes, bytes]]  # (revision id, line)
    reason: str | None = None  # why the file is not annotated (binary, too large, too slow)
    cached: bool = False


class _BudgetAnnotator(Annotator):
    """Breezy's annotator, which stops at a deadline between the versions it reads."""

    def __init__(self, vf: Any, deadline: float) -> None:
        super().__init__(vf)
        self._deadline = deadline

    def _get_needed_texts(self, key: Any, pb: Any = None) -> Any:
        for item in super()._get_needed_texts(key, pb):
            if time.monotonic() > self._deadline:
                raise AnnotateTimedOut()
            yield item


def cache_key(scope: str, file_id: bytes, file_revision: bytes) -> str:
    """The cache key of one file text's annotation in the codebase ``scope``."""
    return line_key("annotate", scope, file_id, file_revision)


def annotate_file(repository: Any, revid: bytes, path: str, cache: LineCache,
                  scope: str, timeout_seconds: float = ANNOTATE_TIMEOUT_SECONDS,
                  max_bytes: int = MAX_ANNOTATE_BYTES) -> Annotation:
    """Each line of file ``path`` at ``revid`` with the revision that last changed it."""
    path = tree_path(path)
    deadline = time.monotonic() + timeout_seconds
    with repository.lock_read():
        tree = revision_tree(repository, revid)
        file_id, entry = find_file(tree, path)
        if (entry.size or 0) > max_bytes:
            return Annotation(entry, [], f"larger than {max_bytes} bytes")
        key = cache_key(scope, file_id, entry.last_changed)
        text = tree.get_file_text(path)
        if is_binary(text):
            return Annotation(entry, [], "a binary file")
        lines = osutils.split_lines(text)
        revisions = cache.get(key)
        if revisions is not None and len(revisions) == len(lines):
            return Annotation(entry, list(zip(revisions, lines, strict=True)), cached=True)
        try:
            annotated = _annotate(repository, file_id, entry.last_changed, deadline)
        except AnnotateTimedOut:
            return Annotation(entry, [], f"took longer than {timeout_seconds:g} seconds")
    cache.put(key, [revision for revision, _ in annotated])
    return Annotation(entry, annotated)


def _annotate(repository: Any, file_id: bytes, file_revision: bytes, deadline: float
              ) -> list[tuple[bytes, bytes]]:
    """Breezy's flat annotation of one file text, within ``deadline``."""
    try:
        annotator = _BudgetAnnotator(repository.texts, deadline)
        return [(key[-1], line) for key, line in
                annotator.annotate_flat((file_id, file_revision))]
    finally:
        # The annotator held every version it read; give the memory back now.
        release_caches(repository)
        gc.collect()
        trim_heap()
