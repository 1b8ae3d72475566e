"""Names of codebases, campaigns and path segments: checked before any filesystem access."""

from __future__ import annotations

import re

CODEBASE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,99}")
CAMPAIGN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Worker names end up in Basic credentials (no ':') and in logs (no spaces or controls).
WORKER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
RESERVED_NAMES = frozenset({"bzr", "health", "ready", "metrics", "admin", "static", "api"})
# A path segment below a campaign may be a file name (``brz cat URL/dir/file``).
MAX_SEGMENT_BYTES = 255
FORBIDDEN_SEGMENTS = frozenset({"", ".", "..", ".bzr"})


class InvalidName(ValueError):
    """A name or path segment that bzrstore refuses."""


def check_codebase(name: str) -> str:
    """Return ``name`` if it is a valid, unreserved codebase name, else raise."""
    if not CODEBASE_RE.fullmatch(name):
        raise InvalidName(f"invalid codebase name: {name!r}")
    if name in RESERVED_NAMES:
        raise InvalidName(f"reserved name: {name!r}")
    return name


def check_campaign(name: str) -> str:
    """Return ``name`` if it is a valid campaign name, else raise."""
    if not CAMPAIGN_RE.fullmatch(name):
        raise InvalidName(f"invalid campaign name: {name!r}")
    return name


def check_worker(name: str) -> str:
    """Return ``name`` if it is a valid worker (HTTP user) name, else raise."""
    if not WORKER_RE.fullmatch(name):
        raise InvalidName(f"invalid worker name: {name!r}")
    return name


def check_segment(segment: str) -> str:
    """Return a deeper path segment (role, directory, file) if it is safe, else raise."""
    if segment in FORBIDDEN_SEGMENTS:
        raise InvalidName(f"invalid path segment: {segment!r}")
    if any(ch in segment for ch in "\0\\/") or len(segment.encode()) > MAX_SEGMENT_BYTES:
        raise InvalidName(f"invalid path segment: {segment!r}")
    return segment


def split_branch_path(path: str) -> tuple[str, tuple[str, ...]]:
    """Split ``<cb>[/<campaign>[/…]]`` into the codebase and checked segments below it."""
    codebase, _, rest = path.partition("/")
    check_codebase(codebase)
    segments = tuple(rest.split("/")) if rest else ()
    if segments:
        check_campaign(segments[0])
        for segment in segments[1:]:
            check_segment(segment)
    return codebase, segments
