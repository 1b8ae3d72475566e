"""One revision and its diff, and any two revisions compared: HTML (unified or side by side)
or JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from werkzeug.exceptions import BadRequest

from bzrstore.repos.changes import change_of, describe_revision, read_revisions, reverse_tags
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


@revision.get("/bzr/<path:location>/-/revision/<path:spec>")
def show_revision(location: str, spec: str) -> Response:
    """One revision and its diff against its left-hand parent; ``?view=sbs``: side by side."""
    ctx = open_browse(location)
    revid, by_id = resolve(ctx, spec)
    view = view_arg()
    return ctx.respond(
        "revision", (view, revid.decode("utf-8", "replace")), revid=revid if by_id else None,
        build=lambda: _revision_page(ctx, revid),
        html=lambda page: render_template(
            "browse/revision.html", ctx=ctx, view=view, detail=page[0], diff=page[1],
            files=cached_shown(ctx.branch.repository, page[0].left_parent, revid, page[1],
                               view == "sbs")),
        data=lambda page: {**page[0].as_json(), **_diff_json(ctx, page[0].left_parent, revid,
                                                             page[1])})


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
        build=lambda: _compare_page(ctx, old, new),
        html=lambda page: render_template("browse/compare.html", ctx=ctx, view=view, old=old,
                                          new=new, changes=page[0], more=page[1],
                                          files=cached_shown(ctx.branch.repository, old,
                                                             new, page[2], view == "sbs"),
                                          diff=page[2]),
        data=lambda page: {"old": old.decode("utf-8", "replace"),
                           "new": new.decode("utf-8", "replace"),
                           "revisions": [change.as_json() for change in page[0]],
                           "more_revisions": page[1], **_diff_json(ctx, old, new, page[2])})


def view_arg() -> str:
    """The ``view`` parameter: ``unified`` (the default) or ``sbs`` (side by side)."""
    view = text_arg(request.args, "view") or DIFF_VIEWS[0]
    if view not in DIFF_VIEWS:
        raise BadRequest(f"view must be one of {', '.join(DIFF_VIEWS)}")
    return view


def _revision_page(ctx: BrowseContext, revid: bytes) -> tuple[Any, PageDiff]:
    detail = describe_revision(ctx.branch, revid)
    return detail, cached_diff(ctx.branch.repository, detail.left_parent, revid, diff_limits())


def _compare_page(ctx: BrowseContext, old: bytes, new: bytes) -> tuple[list, bool, PageDiff]:
    """The revisions ``new`` adds to ``old`` (at most MAX_COMPARE_REVISIONS), and the diff."""
    repository = ctx.branch.repository
    entries, following = revision_info(repository, old, new, limit=MAX_COMPARE_REVISIONS)
    revids = [entry["revision-id"].encode() for entry in entries]
    revisions = read_revisions(ctx.branch, revids)
    history, tags = history_of(ctx.branch), reverse_tags(ctx.branch)
    changes = [change_of(revisions[revid], history.revno(revid), 0, tags) for revid in revids]
    return changes, following is not None, cached_diff(repository, old, new, diff_limits())


def _diff_json(ctx: BrowseContext, old: bytes, new: bytes, diff: PageDiff) -> dict[str, Any]:
    """The files a diff changes, where its plain text is, and why the page cut it, if it did."""
    return {"files": [file.as_json() for file in diff.files],
            "diff_url": ctx.diff_url(old, new), "diff_cut": diff.cut,
            "files_not_shown": diff.unshown, "files_not_shown_more": diff.unshown_more}
