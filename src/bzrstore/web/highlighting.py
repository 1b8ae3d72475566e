"""Syntax highlighting with Pygments: a file's lines as HTML, one string per line.

The lexer is chosen by file name only (guessing from content runs every lexer), and
text over a budget is escaped, not highlighted: Pygments' cost follows the bytes
(about 1 MB/s for Python source on this machine's cores), so a page stays bounded.
The classes are Pygments' short ones, styled by ``static/pygments.css`` under ``.hl``.
"""

from __future__ import annotations

import functools
import posixpath
import re

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound

# Text highlighted per call; beyond it, lines are only escaped.
MAX_HIGHLIGHT_BYTES = 256 * 1024
# Lexers kept, by file name: finding one scans every lexer's patterns (~1 ms).
LEXER_CACHE_SIZE = 512
CSS_SCOPE = ".hl"
_FORMATTER = HtmlFormatter(nowrap=True)
# What code is shown on (page, added, removed, targeted line, shaded cells): Pygments'
# default colours fall under WCAG AA there (#008000 on a removed line: 4.48:1, axe-core
# calls it serious), so each is darkened, its hue kept, to AA on all of them.
CODE_BACKGROUNDS = ("ffffff", "e6ffec", "ffebe9", "ffffcc", "f6f6f6")
MIN_CONTRAST = 4.5
_COLOR = re.compile(r"(?<![-\w])color: #([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


@functools.lru_cache(maxsize=LEXER_CACHE_SIZE)
def lexer_for(path: str) -> Lexer | None:
    """The lexer for a file named like ``path``; None for plain text or an unknown kind."""
    try:
        lexer = get_lexer_for_filename(posixpath.basename(path), stripnl=False,
                                       ensurenl=False)
    except ClassNotFound:
        return None
    return None if lexer.name == "Text only" else lexer


def highlight_lines(path: str, lines: list[str]) -> list[Markup]:
    """``lines`` (without their line ends) as HTML: highlighted for ``path``'s language.

    Lines are highlighted together, so a string or comment over several lines is
    coloured right; the result has exactly one entry per input line.
    """
    lexer = lexer_for(path)
    if lexer is None or not lines or sum(map(len, lines)) > MAX_HIGHLIGHT_BYTES:
        return plain_lines(lines)
    html = highlight("\n".join(lines) + "\n", lexer, _FORMATTER)
    out = html.split("\n")
    if len(out) < len(lines):  # a lexer that swallowed a line end: never misalign
        return plain_lines(lines)
    return [Markup(line) for line in out[:len(lines)]]


def plain_lines(lines: list[str]) -> list[Markup]:
    """``lines`` escaped, not highlighted."""
    return [escape(line) for line in lines]


def stylesheet() -> str:
    """The CSS for the highlighted classes (what ``static/pygments.css`` holds)."""
    return _COLOR.sub(lambda m: f"color: {readable(m[1])}", _FORMATTER.get_style_defs(CSS_SCOPE))


def readable(hex_color: str) -> str:
    """``hex_color`` darkened until it has AA contrast on every code background."""
    if len(hex_color) == 3:
        hex_color = "".join(c * 2 for c in hex_color)
    rgb = [int(hex_color[i:i + 2], 16) for i in (0, 2, 4)]
    while min(contrast(rgb, background) for background in CODE_BACKGROUNDS) < MIN_CONTRAST:
        rgb = [int(c * 0.95) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def contrast(rgb: list[int], background: str) -> float:
    """WCAG 2 contrast ratio of ``rgb`` on the hex ``background``."""
    ours = _luminance(rgb)
    theirs = _luminance([int(background[i:i + 2], 16) for i in (0, 2, 4)])
    return (max(ours, theirs) + 0.05) / (min(ours, theirs) + 0.05)


def _luminance(rgb: list[int]) -> float:
    linear = [c / 3294 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
