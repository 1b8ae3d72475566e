"""Browsing a branch: its location checked, opened read-only in its jail, revisions named.

A browse URL names a branch as ``<cb>[/<campaign>[/<role>]]`` and a revision as a
mainline revno (``12``), a dotted revno (``1.2.3``) or a revision id. Everything here
is Breezy only: the web face turns ``InvalidRevision`` into 400 and ``UnknownRevision``
(``UnknownBranch`` is one) into 404.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breezy import errors
from breezy.revision import NULL_REVISION
from breezy.transport import NoSuchFile
from breezy.transport.readonly import ReadonlyTransportDecorator

from bzrstore.repos.controldirs import branch_of, open_controldir
from bzrstore.repos.history import history_of
from bzrstore.repos.jail import jailed_transport
from bzrstore.repos.names import InvalidName, split_branch_path
from bzrstore.repos.revisions import (
    InvalidRevision,
    UnknownRevision,
    release_caches,
    resolve_revision,
)

# A browse location is <cb>[/<campaign>[/<role>]]: never deeper, so "-" (which no
# campaign or role may be) always ends it.
MAX_LOCATION_SEGMENTS = 2
# A revno, or REVNO.BRANCH.N: each part far beyond any history, far below overflow.
REVNO_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9}\.[0-9]{1,9})?")
# What opening a location can meet that means "no branch here", not a server fault.
NOT_A_BRANCH = (errors.NotBranchError, errors.NoRepositoryPresent, errors.UnknownFormatError,
                errors.PermissionDenied, NoSuchFile)


class UnknownBranch(UnknownRevision):
    """No branch at a location (maps to 404, like an unknown revision)."""


@dataclass(frozen=True)
class Location:
    """A checked branch location: the codebase and up to two names below it."""

    codebase: str
    segments: tuple[str, ...]

    @property
    def path(self) -> str:
        """``<cb>[/<campaign>[/<role>]]`` as it appears in URLs."""
        return "/".join((self.codebase, *self.segments))

    @property
    def relpath(self) -> str:
        """The branch's directory below its codebase's repository ('' for the root)."""
        return "/".join(self.segments)


def parse_location(path: str) -> Location:
    """Check ``<cb>[/<campaign>[/<role>]]`` (names as SPEC.md says); InvalidName else."""
    codebase, segments = split_branch_path(path)
    if len(segments) > MAX_LOCATION_SEGMENTS:
        raise InvalidName(f"a branch is <codebase>[/<campaign>[/<role>]], not {path!r}")
    return Location(codebase, segments)


def open_location(codebase_dir: Path, location: Location) -> Any:
    """The branch at ``location``, read-only, jailed to its codebase; UnknownBranch if none.

    Opened through ``controldirs`` (no references followed, no fallbacks opened) on a
    read-only transport that also hides lock info files, on the codebase's shared
    repository as this thread last opened it (``kept_repository``).
    """
    missing = UnknownBranch(f"no branch at {location.path}")
    if not codebase_dir.is_dir():
        raise missing
    transport = jailed_transport(codebase_dir, hide_lock_info=True)
    readonly = ReadonlyTransportDecorator("readonly+" + transport.base, transport)
    try:
        branch_transport = readonly.clone(location.relpath) if location.segments else readonly
        controldir = open_controldir(branch_transport)
        shared = _uses_shared_repository(readonly, location)
        branch = branch_of(controldir, kept_repository(codebase_dir, readonly) if shared
                           else None)
        branch.repository  # noqa: B018 - a branch without its repository is none to browse
    except NOT_A_BRANCH as exc:
        raise missing from exc
    return branch


def _uses_shared_repository(root: Any, location: Location) -> bool:
    """Whether the branch at ``location`` uses the codebase's shared repository.

    It does unless its own directory, or one between it and the codebase root, holds
    a repository (a branch pushed with ``brz init-repo`` or standalone): a few stats.
    """
    if not location.segments:
        return True
    return not any(root.has(f"{'/'.join(location.segments[:depth])}/.bzr/repository")
                   for depth in range(1, len(location.segments) + 1))


# Codebases' repositories kept open per thread. Breezy never frees a repository it has
# opened (a reference cycle through its Rust extensions; ~30 KB and 1 object each, seen
# with gc), so opening one per request grew a worker without bound; a kept one is
# reused (each read lock re-reads pack-names, so new pushes are seen). An evicted one
# is still never freed: the bound makes that a cost per codebase switch, not per page.
KEPT_REPOSITORIES_PER_THREAD = 16
_kept = threading.local()


def kept_repository(codebase_dir: Path, root: Any) -> Any:
    """The shared repository at ``root`` (``codebase_dir``), opened once per thread."""
    repositories: OrderedDict[Path, Any] = getattr(_kept, "repositories", None) or OrderedDict()
    _kept.repositories = repositories
    repository = repositories.get(codebase_dir)
    if repository is None:
        repository = open_controldir(root).open_repository()
        repositories[codebase_dir] = repository
        if len(repositories) > KEPT_REPOSITORIES_PER_THREAD:
            repositories.popitem(last=False)
    repositories.move_to_end(codebase_dir)
    release_caches(repository)  # what the last request read stays in the LRU caches only
    return repository


def resolve_spec(branch: Any, spec: str) -> bytes:
    """The revision id ``spec`` names: a revno or dotted revno in ``branch``, or a revision id.

    A revision id need only be in the codebase's repository (a merged or another
    branch's revision can be shown in this branch's frame); ``null:`` is refused.
    """
    if not spec:
        raise InvalidRevision("empty revision")
    if REVNO_RE.fullmatch(spec):
        revid = _by_revno(branch, tuple(int(part) for part in spec.split(".")))
    else:
        revid = resolve_revision(branch.repository, spec)
    if revid == NULL_REVISION:
        raise UnknownRevision("null: is no revision to show")
    return revid


def _by_revno(branch: Any, revno: tuple[int, ...]) -> bytes:
    """The revision id of a (dotted) revno in ``branch``; UnknownRevision when none.

    Read from the tip's merge-sorted history (cached per tip): Breezy's own
    ``get_rev_id`` walks the mainline back from the tip, 0.15 s for revno 1 of 2,000.
    """
    shown = ".".join(map(str, revno))
    revid = history_of(branch).revid(revno)
    if revid is None:
        if len(revno) == 1:
            raise UnknownRevision(f"no revision {shown} (the branch has {tip_of(branch)[0]})")
        raise UnknownRevision(f"no revision {shown} in this branch")
    return revid


def tip_of(branch: Any) -> tuple[int, bytes]:
    """The branch's (revno, revision id) now."""
    with branch.lock_read():
        return branch.last_revision_info()
