"""Names of codebases, campaigns and path segments: checked before any filesystem access.

Codebase, campaign and role follow SPEC.md's patterns exactly (ASCII, no leading dot).
Segments below a role are only places brz probes (``brz cat URL/dir/.gitignore`` posts
to ``…/dir/.gitignore/.bzr/smart`` first), so they are file names: printable ASCII and
space, but never a leading dot, a backslash or any control character either.
"""

from __future__ import annotations

import re

# SPEC: Janitor's codebase domain less the comma; 255 characters, one directory name.
CODEBASE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,254}")
# SPEC: campaign and role; ASCII letters only (re's [A-Za-z] matches nothing else).
CAMPAIGN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,99}")
# Below a role: printable ASCII and space, but '/' and '\\'; no leading dot; one file
# name at most (255 bytes on every filesystem we run on).
DEEP_SEGMENT_RE = re.compile(r"(?!\.)[^/\\\x00-\x1f\x7f-\U0010ffff]{1,255}")
# Worker names end up in Basic credentials (no ':') and in logs (no spaces or controls).
WORKER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
RESERVED_NAMES = frozenset({"bzr", "health", "ready", "metrics", "admin", "static", "api"})
# Depth of <campaign>/<role>: segments up to here are names, deeper ones file names.
NAMED_SEGMENTS = 2


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
    """Return ``name`` if it is a valid campaign (or role) name, else raise."""
    if not CAMPAIGN_RE.fullmatch(name):
        raise InvalidName(f"invalid campaign name: {name!r}")
    return name


def check_worker(name: str) -> str:
    """Return ``name`` if it is a valid worker (HTTP user) name, else raise."""
    if not WORKER_RE.fullmatch(name):
        raise InvalidName(f"invalid worker name: {name!r}")
    return name


def check_segment(segment: str) -> str:
    """Return a segment below a role (directory, file) if it is safe, else raise."""
    # The pattern's first character excludes '.', so '', '.', '..' and '.bzr' fail too.
    if not DEEP_SEGMENT_RE.fullmatch(segment):
        raise InvalidName(f"invalid path segment: {segment!r}")
    return segment


def split_branch_path(path: str) -> tuple[str, tuple[str, ...]]:
    """Split ``<cb>[/<campaign>[/<role>[/…]]]`` into the codebase and checked segments."""
    codebase, _, rest = path.partition("/")
    check_codebase(codebase)
    segments = tuple(rest.split("/")) if rest else ()
    for depth, segment in enumerate(segments):
        if depth < NAMED_SEGMENTS:
            check_campaign(segment)
        else:
            check_segment(segment)
    return codebase, segments
