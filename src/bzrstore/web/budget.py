"""The expensive browse pages, charged to the client's budget before any work is done.

Which pages are expensive is read from the URL (``/bzr/<loc>/-/<view>…``, the browse
contract), in one hook, so no view can forget it and a request over budget costs no
Breezy call: annotate (follows a file's history), compare (two revisions, any distance
apart), tarball (the whole tree) and history pages past ``FREE_CHANGES_PAGES`` (a walk
back that far). Everything else, the smart protocol and Janitor's APIs included, is
never counted.
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import BadRequest

from bzrstore.web.params import page_arg
from bzrstore.web.preamble import get_store

# A person reads the first pages of a history; a crawler walks all of them.
FREE_CHANGES_PAGES = 10
# A location's segments are names, never "-": the first "/-/" ends it.
BROWSE_VIEW = re.compile(r"/bzr/[^/]+(?:/[^/]+)*?/-/(?P<view>[a-z]+)(?:/|$)")
CHARGED_VIEWS = frozenset({"annotate", "compare", "tarball"})
# Every view that may be refused: the above, and history pages past the free ones.
BUDGETED_VIEWS = CHARGED_VIEWS | {"changes"}


def expensive_kind(path: str, args: dict[str, str]) -> str | None:
    """The budget kind of a request for ``path`` with query ``args``; None when free."""
    match = BROWSE_VIEW.match(path)
    if match is None:
        return None
    view = match["view"]
    if view in CHARGED_VIEWS:
        return view
    if view == "changes":
        try:
            return "changes" if page_arg(args) > FREE_CHANGES_PAGES else None
        except BadRequest:
            return None  # the view answers 400: nothing expensive happens
    return None


def _charge_expensive_page() -> None:
    if request.method not in ("GET", "HEAD"):
        return
    kind = expensive_kind(request.path, request.args)
    if kind is not None:
        get_store().page_budget.spend(request.remote_addr or "", kind)


def install_budget(app: Flask) -> None:
    """Charge every expensive page to its client's budget before its view runs."""
    app.before_request(_charge_expensive_page)
