"""Branch-tip changes made through the store, seen by Breezy's server-side branch hook."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from breezy import urlutils
from breezy.branch import Branch
from breezy.revision import NULL_REVISION

from bzrstore.metrics import Metrics
from bzrstore.registry.branches import BranchRecords, BranchTip, Push
from bzrstore.repos.names import InvalidName, split_branch_path

log = logging.getLogger(__name__)

HOOK_NAME = "bzrstore push log"


@dataclass(frozen=True)
class PushContext:
    """Who is writing where: set around each writable smart request."""

    records: BranchRecords
    codebase: str
    root_url: str  # the codebase's chroot URL: branch bases are below it
    worker: str | None
    metrics: Metrics | None = None


_current: ContextVar[PushContext | None] = ContextVar("bzrstore_push", default=None)


@contextmanager
def pushing(context: PushContext) -> Iterator[None]:
    """Attribute branch-tip changes made inside the block to ``context``."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def install_hook() -> None:
    """Register the hook with Breezy once per process (Breezy's hook list is global)."""
    hooks = Branch.hooks["post_change_branch_tip"]
    if record_tip_change not in hooks:
        Branch.hooks.install_named_hook("post_change_branch_tip", record_tip_change, HOOK_NAME)


def record_tip_change(params: Any) -> None:
    """Write a push-log row and the new tip for a change made in a bzrstore request."""
    context = _current.get()
    if context is None or not params.branch.base.startswith(context.root_url):
        return
    path = urlutils.unescape(params.branch.base[len(context.root_url) :]).strip("/")
    try:  # a path a verb argument named, not the checked URL: listings must not show it
        split_branch_path(f"{context.codebase}/{path}".rstrip("/"))
    except InvalidName:
        log.warning("not recording branch %r of %s: not a valid name", path, context.codebase)
        return
    new_revid = params.new_revid.decode()
    tip = BranchTip(path, params.new_revno, new_revid, *_describe(params))
    push = Push(context.codebase, path, params.old_revno, params.old_revid.decode(),
                params.new_revno, new_revid, context.worker, time.time())
    if context.metrics is not None:
        context.metrics.pushes.inc()
    try:
        context.records.record_push(push, tip)
    except Exception:  # the push itself succeeded: never fail it for the log's sake
        log.exception("could not record push to %s/%s", context.codebase, path)


def _describe(params: Any) -> tuple[str | None, float | None, str | None]:
    """Committer, time and first message line of the new tip revision."""
    if params.new_revid == NULL_REVISION:
        return None, None, None
    revision = params.branch.repository.get_revision(params.new_revid)
    first_line = (revision.message or "").splitlines()[0] if revision.message else ""
    return revision.committer, revision.timestamp, first_line
