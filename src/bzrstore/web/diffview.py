"""A page's diff made ready to show: lines highlighted, per-file anchors, side-by-side rows.

Each side of a file's hunks is highlighted as one text (a string or comment spanning
lines is coloured right), up to ``MAX_HIGHLIGHTED_CHARS`` a page; the rest is escaped.
Side by side pairs each run of removed lines with the added lines that follow it, as
a table: no JavaScript needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from urllib.parse import quote

from markupsafe import Markup

from bzrstore.repos.pagediff import DiffLine, FileDiff
from bzrstore.web.highlighting import highlight_lines, plain_lines

# Characters of diff text a page highlights (Pygments: ~1 MB/s), the rest only escaped.
MAX_HIGHLIGHTED_CHARS = 128 * 1024


@dataclass
class ShownLine:
    """A diff line ready for the template: its operation, numbers and HTML."""

    op: str
    old_no: int | None
    new_no: int | None
    html: Markup


Row = tuple[ShownLine | None, ShownLine | None]


@dataclass
class ShownFile:
    """A changed file ready for the template: its anchor and its hunks (or their rows)."""

    file: FileDiff
    anchor: str
    hunks: list[list[ShownLine]] = field(default_factory=list)
    rows: list[list[Row]] = field(default_factory=list)


def file_anchor(path: str) -> str:
    """The fragment id of a file's diff: stable, so ``…#file-src/main.py`` links stay good."""
    return "file-" + quote(path, safe="/._-~")


def show_files(files: list[FileDiff], side_by_side: bool = False) -> list[ShownFile]:
    """``files`` highlighted within the page's budget, as hunks or side-by-side rows."""
    budget = MAX_HIGHLIGHTED_CHARS
    shown = []
    for diff in files:
        size = sum(len(line.text) for hunk in diff.hunks for line in hunk)
        hunks = _highlight(diff, budget >= size)
        budget -= size
        item = ShownFile(diff, file_anchor(diff.path))
        if side_by_side:
            item.rows = [pair_rows(hunk) for hunk in hunks]
        else:
            item.hunks = hunks
        shown.append(item)
    return shown


def _highlight(diff: FileDiff, highlight: bool) -> list[list[ShownLine]]:
    """The file's hunks with each line's HTML: both sides highlighted as texts, or escaped."""
    lines = [line for hunk in diff.hunks for line in hunk]
    old = [line.text for line in lines if line.op in " -"]
    new = [line.text for line in lines if line.op in " +"]
    if highlight:
        old_html = iter(highlight_lines(diff.old_path, old))
        new_html = iter(highlight_lines(diff.path, new))
    else:
        old_html, new_html = iter(plain_lines(old)), iter(plain_lines(new))
    return [[_shown(line, old_html, new_html) for line in hunk] for hunk in diff.hunks]


def _shown(line: DiffLine, old_html: Iterator[Markup], new_html: Iterator[Markup]) -> ShownLine:
    """``line`` with its HTML taken from the side(s) it belongs to."""
    if line.op == "-":
        html = next(old_html)
    elif line.op == "+":
        html = next(new_html)
    elif line.op == " ":
        next(old_html)
        html = next(new_html)
    else:  # "\ No newline at end of file"
        html = Markup.escape(line.text.strip())
    return ShownLine(line.op, line.old_no, line.new_no, html)


def pair_rows(hunk: list[ShownLine]) -> list[Row]:
    """Side-by-side rows: context on both sides, removed lines beside the added ones."""
    rows: list[Row] = []
    removed: list[ShownLine] = []
    added: list[ShownLine] = []

    def flush() -> None:
        rows.extend(zip_longest(removed, added))
        removed.clear()
        added.clear()

    for line in hunk:
        if line.op == "-":
            if added:
                flush()
            removed.append(line)
        elif line.op == "+":
            added.append(line)
        else:
            flush()
            rows.append((line, line) if line.op == " " else (line, None))
    flush()
    return rows
