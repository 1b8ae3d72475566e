"""One revision and its diff, and any two revisions compared: HTML (unified or side by side)
or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, render_template, request
from werkzeug.exceptions import BadRequest

from bzrstore.repos.changes import (
    Change,
    RevisionDetail,
    change_of,
    describe_revision,
    read_revisions,
    reverse_tags,
)
from bzrstore.repos.history import history_of
from bzrstore.repos.pagediff import PageDiff
from bzrstore.repos.revisions import revision_info
from bzrstore.web.browsing import BrowseContext, open_browse, resolve
from bzrstore.web.diffs import diff_limits
from bzrstore.web.diffview import cached_diff, cached_shown
from bzrstore.web.params import text_arg

revision = Blueprint("revision", __name__)

DIFF_VIEWS = ("unified", "sbs")
# Revisions a compare page lists (newest first); the count says how many more there are.
MAX_COMPARE_REVISIONS = 100


@dataclass
class DiffPage:
    """What a revision or compare page shows: its diff from ``old`` to ``new``, and more."""

    ctx: BrowseContext
    old: bytes
    new: bytes
    diff: PageDiff
    detail: RevisionDetail | None = None  # a revision page's revision
    changes: list[Change] | None = None  # a compare page's revisions
    more: bool = False  # a compare page's list is cut

    def html(self, template: str, view: str) -> str:
        """The page in HTML, its diff unified or side by side (``view``)."""
        files = cached_shown(self.ctx.branch.repository, self.old, self.new, self.diff,
                             view == "sbs")
        return render_template(template, ctx=self.ctx, view=view, page=self, files=files,
                               diff=self.diff, detail=self.detail, old=self.old, new=self.new)

    def diff_json(self) -> dict[str, Any]:
        """The files the diff changes, its plain text's URL, why the page cut it, if it did."""
        return {"files": [file.as_json() for file in self.diff.files],
                "diff_url": self.ctx.diff_url(self.old, self.new), "diff_cut": self.diff.cut,
                "files_not_shown": self.diff.unshown,
                "files_not_shown_more": self.diff.unshown_more}


@revision.get("/bzr/<path:location>/-/revision/<path:spec>")
def show_revision(location: str, spec: str) -> Response:
    """One revision and its diff against its left-hand parent; ``?view=sbs``: side by side."""
    ctx = open_browse(location)
    revid, by_id = resolve(ctx, spec)
    view = view_arg()
    return ctx.respond(
        "revision", (view, revid.decode("utf-8", "replace")), revid=revid if by_id else None,
        build=lambda: revision_page(ctx, revid),
        html=lambda page: page.html("browse/revision.html", view),
        data=lambda page: {**page.detail.as_json(), **page.diff_json()})


@revision.get("/bzr/<path:location>/-/compare/<path:spec>")
def compare(location: str, spec: str) -> Response:
    """The revisions in ``new`` and not in ``old``, and the diff between: ``old..new``."""
    ctx = open_browse(location)
    old_spec, dots, new_spec = spec.partition("..")
    if not dots:
        raise BadRequest("compare takes two revisions: …/-/compare/<old>..<new>")
    (old, old_by_id), (new, new_by_id) = resolve(ctx, old_spec), resolve(ctx, new_spec)
    view = view_arg()
    return ctx.respond(
        "compare", (view, old.decode("utf-8", "replace"), new.decode("utf-8", "replace")),
        revid=old + b".." + new if old_by_id and new_by_id else None,  # immutable when both are
        build=lambda: compare_page(ctx, old, new),
        html=lambda page: page.html("browse/compare.html", view),
        data=lambda page: {"old": old.decode("utf-8", "replace"),
                           "new": new.decode("utf-8", "replace"),
                           "revisions": [change.as_json() for change in page.changes],
                           "more_revisions": page.more, **page.diff_json()})


def view_arg() -> str:
    """The ``view`` parameter: ``unified`` (the default) or ``sbs`` (side by side)."""
    view = text_arg(request.args, "view") or DIFF_VIEWS[0]
    if view not in DIFF_VIEWS:
        raise BadRequest(f"view must be one of {', '.join(DIFF_VIEWS)}")
    return view


def revision_page(ctx: BrowseContext, revid: bytes) -> DiffPage:
    """Revision ``revid`` as the branch sees it, and its diff against its left-hand parent."""
    detail = describe_revision(ctx.branch, revid)
    diff = cached_diff(ctx.branch.repository, detail.left_parent, revid, diff_limits())
    return DiffPage(ctx, detail.left_parent, revid, diff, detail=detail)


def compare_page(ctx: BrowseContext, old: bytes, new: bytes) -> DiffPage:
    """The revisions ``new`` adds to ``old`` (at most MAX_COMPARE_REVISIONS), and the diff."""
    repository = ctx.branch.repository
    entries, following = revision_info(repository, old, new, limit=MAX_COMPARE_REVISIONS)
    revids = [entry["revision-id"].encode() for entry in entries]
    revisions = read_revisions(ctx.branch, revids)
    history, tags = history_of(ctx.branch), reverse_tags(ctx.branch)
    changes = [change_of(revisions[revid], history.revno(revid), 0, tags) for revid in revids]
    return DiffPage(ctx, old, new, cached_diff(repository, old, new, diff_limits()),
                    changes=changes, more=following is not None)
