"""A page's diff made ready to show: lines highlighted, per-file anchors, HTML tables.

Each side of a file's hunks is highlighted as one text (a string or comment spanning
lines is coloured right), up to ``MAX_HIGHLIGHTED_CHARS`` a page; the rest is escaped.
Side by side pairs each run of removed lines with the added lines that follow it, as
a table: no JavaScript needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from bzrstore.repos.diffs import DiffLimits
from bzrstore.repos.lru import WeightedCache
from bzrstore.repos.pagediff import DiffLine, FileDiff, PageDiff, page_diff
from bzrstore.web.highlighting import highlight_lines, plain_lines

# Characters of diff text a page highlights, the rest only escaped: Pygments' Python lexer
# runs at ~85 KB/s here (12 ms for 1 KiB), so this costs up to ~150 ms, once per diff.
MAX_HIGHLIGHTED_CHARS = 12 * 1024
# Diff lines kept ready to show per process (~400 bytes each with their HTML: ~16 MiB).
# A diff depends on its two revision ids alone, so a kept one never goes stale.
MAX_CACHED_DIFF_LINES = 40_000
_cache: WeightedCache[Any] = WeightedCache(MAX_CACHED_DIFF_LINES)


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
    """A changed file ready for the template: its anchor and its diff as an HTML table.

    The table is made here, not by the template: Jinja spends ~50 us a row, a cut page
    has 6,000 of them, and the result is kept with the diff.
    """

    file: FileDiff
    anchor: str
    table: Markup = field(default_factory=Markup)


def cached_diff(repository: Any, old: bytes, new: bytes, limits: DiffLimits) -> PageDiff:
    """``page_diff`` of two revisions, kept (unless its deadline cut it: that may pass)."""
    key = ("diff", repository.user_url, old, new)
    diff = _cache.get(key)
    if diff is None:
        diff = page_diff(repository, old, new, limits)
        if not diff.timed_out:
            _cache.put(key, diff, _weight(diff))
    return diff


def cached_shown(repository: Any, old: bytes, new: bytes, diff: PageDiff,
                 side_by_side: bool) -> list[ShownFile]:
    """``show_files`` of the diff of two revisions, kept as ``cached_diff`` keeps the diff."""
    key = ("shown", repository.user_url, old, new, side_by_side)
    shown = _cache.get(key)
    if shown is None:
        shown = show_files(diff.files, side_by_side)
        if not diff.timed_out:
            _cache.put(key, shown, _weight(diff))
    return shown


def _weight(diff: PageDiff) -> int:
    """What a diff costs to keep, in lines."""
    return 1 + sum(1 + sum(map(len, file.hunks)) for file in diff.files)


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
        table = (side_by_side_table(hunks, diff.path) if side_by_side
                 else unified_table(hunks, diff.path))
        shown.append(ShownFile(diff, file_anchor(diff.path), table))
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


UNIFIED_CLASSES = {"+": "add", "-": "del", " ": "ctx", "\\": "note"}


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _scroller(path: str) -> str:
    """The box a wide table scrolls in: focusable, so a keyboard can scroll it too."""
    return f'<div class="scroll" tabindex="0" role="region" aria-label="diff of {escape(path)}">'


def unified_table(hunks: list[list[ShownLine]], path: str) -> Markup:
    """One row a line: old and new line numbers, the operation, the highlighted text."""
    if not hunks:
        return Markup()
    parts = [_scroller(path), '<table class="diff unified hl">']
    for hunk in hunks:
        parts.append("<tbody>")
        parts.extend(
            f'<tr class="{UNIFIED_CLASSES[line.op]}"><td class="ln">{_number(line.old_no)}</td>'
            f'<td class="ln">{_number(line.new_no)}</td><td class="code"><span class="op">'
            f"{escape(line.op)}</span>{line.html}</td></tr>" for line in hunk)
        parts.append("</tbody>")
    parts.append("</table></div>")
    return Markup("".join(parts))


def side_by_side_table(hunks: list[list[ShownLine]], path: str) -> Markup:
    """Old beside new: removed lines next to the added ones that replace them."""
    if not hunks:
        return Markup()
    parts = [_scroller(path), '<table class="diff sbs hl"><thead><tr><th scope="col" '
             'colspan="2">old</th><th scope="col" colspan="2">new</th></tr></thead>']
    for hunk in hunks:
        parts.append("<tbody>")
        parts.extend(f"<tr>{_side(left, '-', 'del', True)}{_side(right, '+', 'add', False)}</tr>"
                     for left, right in pair_rows(hunk))
        parts.append("</tbody>")
    parts.append("</table></div>")
    return Markup("".join(parts))


def _side(line: ShownLine | None, changed: str, css: str, old: bool) -> str:
    """One side's two cells: the line number and the text (empty where the side has none)."""
    if line is None or (not old and line.op == "\\"):
        return '<td class="ln"></td><td class="code none"></td>'
    number = _number(line.old_no if old else line.new_no)
    return (f'<td class="ln">{number}</td>'
            f'<td class="code {css if line.op == changed else "ctx"}">{line.html}</td>')
