"""Query parameters, parsed the same way by every route: a bad value is a 400, never a 500.

``str.isdigit()`` accepts ``²`` and ``int()`` does not, and an unbounded number overflows
the database's 64-bit OFFSET: numbers are ASCII digits of bounded length, within a range.
Text is bounded in length and free of control characters (PostgreSQL refuses NUL).
"""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.exceptions import BadRequest

# Longest number accepted: far beyond any page or limit, far below int64's 19 digits.
MAX_NUMBER_DIGITS = 12
# Longest free-text parameter (a search term): a codebase name is at most 255 characters.
MAX_TEXT_CHARS = 255
# A million pages of a hundred names: more codebases than any store holds.
MAX_PAGE = 1_000_000


def int_arg(args: Mapping[str, str], name: str, default: int, minimum: int = 1,
            maximum: int = MAX_PAGE) -> int:
    """The whole number ``args[name]`` (``default`` when absent) in [minimum, maximum]."""
    raw = args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_NUMBER_DIGITS
            and minimum <= int(raw) <= maximum):
        raise BadRequest(f"{name} must be a whole number from {minimum} to {maximum}")
    return int(raw)


def page_arg(args: Mapping[str, str]) -> int:
    """The ``page`` parameter of a paginated listing: 1 to MAX_PAGE, default 1."""
    return int_arg(args, "page", 1)


def text_arg(args: Mapping[str, str], name: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """The text ``args[name]`` ('' when absent): at most ``max_chars``, no control characters."""
    raw = args.get(name, "")
    if len(raw) > max_chars:
        raise BadRequest(f"{name} must be at most {max_chars} characters")
    if has_control_characters(raw):
        raise BadRequest(f"{name} must not contain control characters")
    return raw


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a C0 or C1 control character or DEL."""
    return any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 for ch in text)
