"""A branch's history for people and scripts: the changes pages and the Atom feed."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from bzrstore.repos.changes import changes_page
from bzrstore.web.browsing import open_browse
from bzrstore.web.params import page_arg

history = Blueprint("history", __name__)


@history.get("/bzr/<path:location>/-/changes")
def changes(location: str) -> Response:
    """History, newest first, 50 mainline revisions a page, merged revisions nested."""
    ctx = open_browse(location)
    page = page_arg(request.args)
    return ctx.respond(
        "changes", (str(page),), hourly=True, build=lambda: changes_page(ctx.branch, page),
        html=lambda found: render_template("browse/changes.html", ctx=ctx, active="changes",
                                           found=found),
        data=lambda found: {"branch": ctx.location.path, "revno": ctx.tip_revno,
                            "page": found.page, "pages": found.pages,
                            "changes": [change.as_json() for change in found.changes]})
