"""A branch's history for people and scripts: the changes pages and the Atom feed."""

from __future__ import annotations

import re

from flask import Blueprint, Response, render_template, request

from bzrstore.repos.changes import changes_page, recent_changes
from bzrstore.web.browsing import open_browse
from bzrstore.web.params import page_arg

history = Blueprint("history", __name__)

# Feed readers ask for Atom (or anything); JSON on request, as every browse page.
FEED_TYPES = ("application/atom+xml", "application/json")
# Entries in a feed: what a reader polling daily needs, at the cost of one page.
FEED_ENTRIES = 20
XML_INVALID_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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


@history.get("/bzr/<path:location>/-/atom")
def atom(location: str) -> Response:
    """Atom feed of the branch's newest mainline revisions (JSON when asked)."""
    ctx = open_browse(location)
    return ctx.respond(
        "atom", (), offered=FEED_TYPES, build=lambda: recent_changes(ctx.branch, FEED_ENTRIES),
        html=lambda changes: render_template("browse/atom.xml", ctx=ctx, changes=changes),
        data=lambda changes: {"branch": ctx.location.path, "revno": ctx.tip_revno,
                              "changes": [change.as_json() for change in changes]})


@history.app_template_filter("xml_text")
def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (C0 controls but tab and newline)."""
    return XML_INVALID_RE.sub("\ufffd", text)
