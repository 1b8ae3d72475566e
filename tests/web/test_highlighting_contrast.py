"""The highlighting colours are readable (WCAG AA) on every background code is shown on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bzrstore.web import highlighting
from bzrstore.web.highlighting import CODE_BACKGROUNDS, MIN_CONTRAST, contrast, readable

STATIC = Path(highlighting.__file__).parent / "static" / "pygments.css"
COLORS = re.compile(r"(?<![-\w])color: #([0-9a-fA-F]{6})\b")


def test_the_served_stylesheet_is_the_generated_one():
    served = STATIC.read_text()
    assert served.split("\n", 1)[1].strip() == highlighting.stylesheet().strip()


@pytest.mark.parametrize("background", CODE_BACKGROUNDS)
def test_every_token_colour_has_aa_contrast(background):
    colors = COLORS.findall(highlighting.stylesheet())
    assert len(colors) > 20
    low = {c: round(contrast([int(c[i:i + 2], 16) for i in (0, 2, 4)], background), 2)
           for c in colors}
    assert min(low.values()) >= MIN_CONTRAST, low


@pytest.mark.parametrize(("color", "expected"), [
    ("000000", "#000000"),  # already readable: unchanged
    ("fff", None),  # white on white: darkened all the way to something readable
    ("008000", None),  # Pygments' keyword green: 4.48:1 on a removed line
])
def test_readable(color, expected):
    result = readable(color)
    if expected:
        assert result == expected
    rgb = [int(result[i:i + 2], 16) for i in (1, 3, 5)]
    assert min(contrast(rgb, b) for b in CODE_BACKGROUNDS) >= MIN_CONTRAST
