"""``/robots.txt``: crawlers kept to the cheap pages (RFC 9309 rules, ``*`` and ``$``).

Cheap: a branch's first history pages, revisions, the tree and files at the tip, the
feed. Kept out: what a per-client budget guards (annotate, compare, tarball, deep
history), every page at another revision (``?rev=``: the tree times the history is a
crawl without end), raw bytes, the side-by-side duplicate of a revision, the API and
the smart protocol's control files. A polite crawler never meets a 429.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from bzrstore.web.budget import FREE_CHANGES_PAGES

robots = Blueprint("robots", __name__)

# Crawlers fetch it about daily; a deploy that changes it is seen within a day.
MAX_AGE_SECONDS = 86_400
DISALLOWED = (
    "/bzr/*/-/annotate/", "/bzr/*/-/compare/", "/bzr/*/-/tarball", "/bzr/*/-/raw/",
    "/bzr/*/-/changes?", "/bzr/*/-/*?*rev=", "/bzr/*/-/*?*view=",
    "/*/.bzr/", "/*/diff?", "/*/revision-info?", "/admin/", "/api/", "/metrics",
)
# The first history pages stay open: the longest match wins, so these beat "changes?".
ALLOWED = tuple(f"/bzr/*/-/changes?page={n}$" for n in range(2, FREE_CHANGES_PAGES + 1))


def robots_rules(prefix: str = "") -> str:
    """The robots.txt body for a service mounted at ``prefix`` ('' at the host's root)."""
    lines = ["# bzrstore: crawlers welcome on the cheap pages; brz branch for everything.",
             "User-agent: *"]
    lines += [f"Disallow: {prefix}{path}" for path in DISALLOWED]
    lines += [f"Allow: {prefix}{path}" for path in ALLOWED]
    return "\n".join(lines) + "\n"


@robots.get("/robots.txt")
def robots_txt() -> Response:
    """The crawling rules, cacheable for a day."""
    response = Response(robots_rules(request.script_root), mimetype="text/plain")
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_SECONDS
    return response
