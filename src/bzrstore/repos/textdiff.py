"""Per-file diffs within a budget: a deadline checked as lines are written, big files as binary.

Breezy's ``internal_diff`` splits both sides into lines, runs the (Rust) patience matcher,
then holds the whole unified diff in a list before writing it; nothing in it can be
interrupted. Here the text differ streams its output and checks the budget between lines,
and a file over the size or line limits is reported as binary before it is read, like
git's ``core.bigFileThreshold``: the matcher's time and memory follow the line count.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from breezy import errors, osutils, textfile
from breezy import transport as _mod_transport
from breezy.diff import DiffText, unified_diff_bytes
from patiencediff import PatienceSequenceMatcher

# Output lines written between two budget checks: a check costs far less than a line.
CHECK_EVERY_LINES = 256
# Text read between two full garbage collections. Reading a file leaves a reference cycle
# (Breezy's block fetcher) holding its block until the collector runs, which in a busy
# diff it rarely does: a diff of 8 one-MiB files peaked at +166 MiB without this.
COLLECT_EVERY_BYTES = 4 * 1024 * 1024
NO_NEWLINE = b"\n\\ No newline at end of file\n"


class DiffTimedOut(Exception):
    """The diff ran past its deadline."""


class DiffCancelled(Exception):
    """The reader went away or gave up; the diff should stop."""


class DiffBudget:
    """When a diff must stop: a deadline (monotonic seconds) and a cancel flag."""

    def __init__(self, deadline: float, cancelled: Any) -> None:
        self.deadline = deadline
        self.cancelled = cancelled

    def check(self) -> None:
        """Raise DiffCancelled or DiffTimedOut when the diff should stop."""
        if self.cancelled.is_set():
            raise DiffCancelled()
        if time.monotonic() > self.deadline:
            raise DiffTimedOut()


def write_text_diff(old_label: str, old_lines: list[bytes], new_label: str,
                    new_lines: list[bytes], to_file: Any, check: Callable[[], None],
                    path_encoding: str = "utf8", context_lines: int = 3) -> None:
    """What Breezy's ``internal_diff`` writes, streamed, calling ``check`` as it goes."""
    textfile.check_text_lines(old_lines)
    textfile.check_text_lines(new_lines)
    check()
    lines = unified_diff_bytes(
        old_lines, new_lines, fromfile=old_label.encode(path_encoding, "replace"),
        tofile=new_label.encode(path_encoding, "replace"), n=context_lines,
        sequencematcher=PatienceSequenceMatcher)
    written = 0
    for line in lines:
        if written == 2:
            # The first hunk header: patch takes "-0,0"/"+0,0" (not "1,0") for /dev/null.
            if not old_lines:
                line = line.replace(b"-1,0", b"-0,0")
            elif not new_lines:
                line = line.replace(b"+1,0", b"+0,0")
        to_file.write(line)
        if not line.endswith(b"\n"):
            to_file.write(NO_NEWLINE)
        written += 1
        if written % CHECK_EVERY_LINES == 0:
            check()
    if written:
        to_file.write(b"\n")


class BoundedDiffText(DiffText):
    """Breezy's text differ with a budget, and files over the limits shown as binary."""

    def __init__(self, old_tree: Any, new_tree: Any, to_file: Any, *, old_label: str,
                 new_label: str, budget: DiffBudget, max_file_bytes: int,
                 max_file_lines: int, path_encoding: str = "utf8") -> None:
        super().__init__(old_tree, new_tree, to_file, path_encoding, old_label, new_label)
        self.budget = budget
        self.max_file_bytes = max_file_bytes
        self.max_file_lines = max_file_lines
        self.read_bytes = 0

    def diff_text(self, from_path: str | None, to_path: str | None, from_label: str,
                  to_label: str) -> str:
        """Diff one file's two versions, or say they differ when either is binary or big."""
        self.budget.check()
        try:
            old_lines = self._lines(self.old_tree, from_path)
            new_lines = self._lines(self.new_tree, to_path)
            write_text_diff(from_label, old_lines, to_label, new_lines, self.to_file,
                            self.budget.check, self.path_encoding, self.context_lines)
        except errors.BinaryFile:
            self.to_file.write(f"Binary files {self.old_label}{from_path or to_path} and "
                               f"{self.new_label}{to_path or from_path} differ\n"
                               .encode(self.path_encoding, "replace"))
        return self.CHANGED

    def _lines(self, tree: Any, path: str | None) -> list[bytes]:
        """The lines of ``path`` in ``tree``; BinaryFile when it is over a limit."""
        if path is None:
            return []
        size = tree.get_file_size(path)
        if size is not None and size > self.max_file_bytes:
            raise errors.BinaryFile()  # known from the inventory: not even read
        try:
            text = tree.get_file_text(path)
        except _mod_transport.NoSuchFile:
            return []
        self.read_bytes += len(text)
        if self.read_bytes >= COLLECT_EVERY_BYTES:
            self.read_bytes = 0
            gc.collect()
        if len(text) > self.max_file_bytes or text.count(b"\n") > self.max_file_lines:
            raise errors.BinaryFile()
        return osutils.split_lines(text)
