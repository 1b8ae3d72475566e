"""Codebase listings for people (HTML) and programs (JSON, text), from the registry alone."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, render_template, request, stream_with_context
from werkzeug.exceptions import NotAcceptable

from bzrstore.registry.branches import BranchTip
from bzrstore.web.params import page_arg, text_arg
from bzrstore.web.preamble import get_store, registered_codebase

listings = Blueprint("listings", __name__)

PAGE_SIZE = 100
LISTING_TYPES = ("text/html", "application/json", "text/plain")
# The codebase listing offers JSON first, so a client that accepts anything (``*/*``
# alone, as aiohttp, requests, curl and reqwest send, or no Accept at all, which RFC 9110
# reads the same way) gets JSON: Janitor's site reads it with aiohttp's default. Browsers
# name text/html, which wins over their lower-quality ``*/*``.
CODEBASE_LISTING_TYPES = ("application/json", "text/html", "text/plain")
# The text listing is for scripts: every match, fetched from the registry a page at a time.
TEXT_BATCH = 1000
# What a text listing field may not hold as it is: backslash, C0, DEL, C1 controls and
# the two separators Python's splitlines() also breaks lines at.
TEXT_ESCAPE_RE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_text(value: str) -> str:
    """``value`` as one field of a text listing: backslash and controls escaped, Python-style.

    Names are checked on the way in, but rows also come from the registry (Janitor's
    own database, older releases): a tab or newline must never forge a field or a row.
    """
    return TEXT_ESCAPE_RE.sub(_escape_character, value)


def _escape_character(match: re.Match[str]) -> str:
    char = match[0]
    if char in TEXT_ESCAPES:
        return TEXT_ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) <= 0xFF else f"\\u{ord(char):04x}"


@listings.app_template_filter("datetime")
def format_timestamp(timestamp: float) -> str:
    """A POSIX time as ``2026-11-28 05:30 UTC``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def negotiate(offered: tuple[str, ...]) -> str:
    """The offered type the client accepts best; 406 when none fits."""
    accept = request.accept_mimetypes
    if not accept:  # no Accept header: anything will do
        return offered[0]
    best = accept.best_match(offered)
    if best is None:
        raise NotAcceptable(f"available as {', '.join(offered)}")
    return best


@listings.get("/")
@listings.get("/bzr/")
def codebases() -> Response:
    """Registered codebases, filtered by ``?q=``: JSON array and HTML paged, text whole."""
    kind = negotiate(CODEBASE_LISTING_TYPES)
    query, page = text_arg(request.args, "q"), page_arg(request.args)
    if kind == "text/plain":
        response = Response(stream_with_context(_text_listing(query)), mimetype="text/plain")
    else:
        names, total = get_store().registry.page_codebases(query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        # The JSON is a plain array of names, as Janitor's own store answers; where the
        # page sits goes in headers: RFC 8288 links and the de facto X-Total-Count.
        response = (jsonify(names) if kind == "application/json" else
                    Response(render_template("codebases.html", q=query, codebases=names,
                                             total=total, page=page, per_page=PAGE_SIZE)))
        response.headers["Link"] = page_links(query, page, total)
        response.headers["X-Total-Count"] = str(total)
    response.vary.add("Accept")
    return response


def page_links(query: str, page: int, total: int) -> str:
    """The ``Link`` header of page ``page`` of ``total`` names: first, prev, next, last.

    Absolute URLs of the path asked for (``/`` or ``/bzr/``), so a client need not
    resolve them; ``prev`` of a page past the end is the last page.
    """
    last = max(1, math.ceil(total / PAGE_SIZE))
    relations = {"first": 1, "prev": min(page - 1, last) if page > 1 else None,
                 "next": page + 1 if page < last else None, "last": last}
    params = {"q": query} if query else {}
    return ", ".join(f'<{request.base_url}?{urlencode({**params, "page": number})}>; rel="{rel}"'
                     for rel, number in relations.items() if number is not None)


def _text_listing(query: str):
    registry = get_store().registry
    offset = 0
    while True:
        names, _ = registry.page_codebases(query, TEXT_BATCH, offset)
        if not names:
            return
        yield "".join(f"{escape_text(name)}\n" for name in names)
        offset += len(names)


@listings.get("/bzr/<codebase>/")
def branches(codebase: str) -> Response:
    """Branches of a codebase as the store last saw them pushed: path, revno, tip, message."""
    kind = negotiate(LISTING_TYPES)
    tips = get_store().registry.list_branches(registered_codebase(codebase))
    if kind == "application/json":
        response = jsonify({"codebase": codebase, "branches": [branch_row(t) for t in tips]})
    elif kind == "text/plain":
        lines = (f"{escape_text(t.path)}\t{t.revno}\t{escape_text(t.revision_id)}\n"
                 for t in tips)
        response = Response("".join(lines), mimetype="text/plain")
    else:
        response = Response(render_template("branches.html", codebase=codebase, tips=tips))
    response.vary.add("Accept")
    return response


def branch_row(tip: BranchTip) -> dict[str, Any]:
    """A branch tip as a row of the JSON listing."""
    return {"path": tip.path, "revno": tip.revno, "revision_id": tip.revision_id,
            "committer": tip.committer, "timestamp": tip.timestamp, "message": tip.message}


@listings.get("/repositories")
def repositories() -> Response:
    """JSON list of every codebase name (what Janitor's clients call)."""
    return jsonify(get_store().registry.list_codebases())
