"""A diff for a page: the streamed diff's own code run in the request, cut at a budget, parsed.

A page shows at most ``MAX_PAGE_DIFF_BYTES`` and ``MAX_PAGE_DIFF_LINES`` of diff (the
plain ``text/x-diff`` has the rest): the diff is written by ``diffs.show_tree_diff``
(the same per-file limits and deadline as the API's diff) into a writer that stops it
when the page is full, then read back into files, hunks and numbered lines.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from bzrstore.repos.diffs import DiffLimits, show_tree_diff
from bzrstore.repos.revisions import release_caches
from bzrstore.repos.textdiff import DiffBudget, DiffTimedOut

# What one page shows of a diff: rendering costs ~10 us a line, highlighting more.
MAX_PAGE_DIFF_BYTES = 512 * 1024
MAX_PAGE_DIFF_LINES = 6000
# Paths a cut diff still names (after the files it shows): the rest are counted only.
MAX_UNSHOWN_PATHS = 1000
FILE_HEADER_RE = re.compile(
    r"=== (?P<action>added|removed|renamed|modified) (?P<kind>\S+) "
    r"'(?P<path>.*?)'(?: => '(?P<new_path>.*)')?(?P<extra> \(properties changed: .*\))?")
HUNK_RE = re.compile(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


class PageFull(Exception):
    """The diff has filled its page."""


@dataclass
class DiffLine:
    """One line of a hunk: ' ', '-', '+' or '\\' (no newline), with its line numbers."""

    op: str
    text: str
    old_no: int | None = None
    new_no: int | None = None


@dataclass
class FileDiff:
    """One changed entry: what happened to it, and its hunks (none for binary or no text)."""

    action: str
    kind: str
    path: str
    old_path: str
    properties: str = ""
    binary: bool = False
    hunks: list[list[DiffLine]] = field(default_factory=list)

    @property
    def added(self) -> int:
        """Lines added."""
        return sum(line.op == "+" for hunk in self.hunks for line in hunk)

    @property
    def removed(self) -> int:
        """Lines removed."""
        return sum(line.op == "-" for hunk in self.hunks for line in hunk)

    def as_json(self) -> dict[str, Any]:
        """The file as a JSON answer lists it."""
        return {"path": self.path, "old_path": self.old_path, "action": self.action,
                "kind": self.kind, "binary": self.binary, "added": self.added,
                "removed": self.removed}


@dataclass
class PageDiff:
    """The files of a diff as far as the page goes; ``cut`` says why it stopped early."""

    files: list[FileDiff]
    cut: str | None = None
    timed_out: bool = False
    # When cut: the changed paths the page does not show (at most MAX_UNSHOWN_PATHS), and
    # whether there are more than that.
    unshown: list[str] = field(default_factory=list)
    unshown_more: bool = False


class _PageWriter:
    """Collects the diff's bytes until the page is full (what ``show_tree_diff`` writes to)."""

    def __init__(self, budget: DiffBudget, max_bytes: int, max_lines: int) -> None:
        self.budget = budget
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.parts: list[bytes] = []
        self.size = 0
        self.lines = 0

    def write(self, data: bytes) -> None:
        """Keep ``data``; stop the diff once the page is full."""
        self.parts.append(data)
        self.size += len(data)
        self.lines += data.count(b"\n")
        if self.size > self.max_bytes or self.lines > self.max_lines:
            raise PageFull()

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Check the deadline (the text differ flushes between files)."""
        self.budget.check()


def page_diff(repository: Any, old_revid: bytes, new_revid: bytes, limits: DiffLimits,
              max_bytes: int = MAX_PAGE_DIFF_BYTES, max_lines: int = MAX_PAGE_DIFF_LINES
              ) -> PageDiff:
    """The diff from ``old_revid`` to ``new_revid`` as files and hunks, cut at the budget."""
    budget = DiffBudget(time.monotonic() + limits.timeout_seconds, _NeverCancelled())
    writer = _PageWriter(budget, max_bytes, max_lines)
    cut, timed_out = None, False
    try:
        with repository.lock_read():
            old_tree = repository.revision_tree(old_revid)
            new_tree = repository.revision_tree(new_revid)
            show_tree_diff(old_tree, new_tree, writer, None, limits)  # type: ignore[arg-type]
    except PageFull:
        cut = f"longer than a page shows ({max_lines} lines, {max_bytes // 1024} KiB)"
    except DiffTimedOut:
        cut, timed_out = f"took longer than {limits.timeout_seconds:g} seconds", True
    finally:
        release_caches(repository)
    diff = PageDiff(parse_diff(b"".join(writer.parts).decode("utf-8", "replace")), cut,
                    timed_out)
    if cut is not None and not timed_out:
        diff.unshown, diff.unshown_more = _unshown_paths(repository, old_revid, new_revid,
                                                         {file.path for file in diff.files})
    return diff


def _unshown_paths(repository: Any, old_revid: bytes, new_revid: bytes, shown: set[str]
                   ) -> tuple[list[str], bool]:
    """The changed paths not in ``shown``, sorted, at most MAX_UNSHOWN_PATHS (and if more).

    The inventories' difference only (no text is read): ~170 ms for the 1,879 files of
    the medium bench repository's first revision, once (the page's diff is kept).
    """
    paths: list[str] = []
    try:
        with repository.lock_read():
            new_tree = repository.revision_tree(new_revid)
            for change in new_tree.iter_changes(repository.revision_tree(old_revid)):
                path = change.path[1] or change.path[0]
                if path and path not in shown:
                    paths.append(path)
                if len(paths) > MAX_UNSHOWN_PATHS * 4:  # enough to sort the first ones
                    break
    finally:
        release_caches(repository)
    paths.sort()
    return paths[:MAX_UNSHOWN_PATHS], len(paths) > MAX_UNSHOWN_PATHS


class _NeverCancelled:
    """A cancel flag nobody sets: a page's diff runs in its request, not in a thread."""

    def is_set(self) -> bool:
        """Never."""
        return False


def parse_diff(text: str) -> list[FileDiff]:
    """``brz diff`` output (its ``=== …`` file headers, unified hunks) as files and lines."""
    files: list[FileDiff] = []
    old_no = new_no = 0
    for line in text.split("\n"):
        header = FILE_HEADER_RE.fullmatch(line)
        if header:
            path = header["new_path"] if header["new_path"] is not None else header["path"]
            files.append(FileDiff(header["action"], header["kind"], path, header["path"],
                                  (header["extra"] or "").strip(" ()")))
        elif not files or line.startswith(("--- ", "+++ ")) and not files[-1].hunks:
            continue
        elif line.startswith("Binary files ") and line.endswith(" differ"):
            files[-1].binary = True
        elif (hunk := HUNK_RE.match(line)) is not None:
            old_no, new_no = int(hunk[1]), int(hunk[2])
            files[-1].hunks.append([])
        elif files[-1].hunks and line[:1] in (" ", "-", "+", "\\"):
            op = line[:1]
            files[-1].hunks[-1].append(DiffLine(op, line[1:], old_no if op in " -" else None,
                                                new_no if op in " +" else None))
            old_no += op in " -"
            new_no += op in " +"
    return files
