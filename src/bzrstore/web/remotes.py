"""POST /<cb>/remotes/<remote>: workers set where a branch was taken from (its parent)."""

from __future__ import annotations

from urllib.parse import urlsplit

from breezy import errors, urlutils
from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import BadRequest, NotFound

from bzrstore.repos.branches import set_parent_location
from bzrstore.repos.names import check_campaign, check_codebase
from bzrstore.web.access import same_origin, worker_required
from bzrstore.web.preamble import get_store, registered_codebase

remotes = Blueprint("remotes", __name__)

# Schemes brz can pull from; a parent on the server's own filesystem is refused.
REMOTE_SCHEMES = frozenset({"http", "https", "bzr", "bzr+ssh", "bzr+http", "bzr+https",
                            "sftp", "ssh", "git", "git+ssh", "lp", "svn", "svn+ssh"})
MAX_URL_CHARS = 2048


def check_remote_url(url: str) -> str:
    """Return ``url`` if it is a network location brz could pull from, else raise."""
    if not url or len(url) > MAX_URL_CHARS or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise BadRequest("url must be a non-empty URL without spaces")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise BadRequest(f"url is not a valid URL: {exc}") from exc
    if parts.scheme not in REMOTE_SCHEMES:
        raise BadRequest(f"url scheme must be one of {', '.join(sorted(REMOTE_SCHEMES))}")
    if parts.scheme != "lp" and not parts.netloc:
        raise BadRequest("url must name a host")
    return url


@remotes.post("/<codebase>/remotes/<remote>")
@same_origin  # brz and Janitor send no Origin; a browser page from elsewhere does
@worker_required
def set_remote(codebase: str, remote: str) -> Response:
    """Set the parent location of branch ``<cb>/<remote>``; workers only."""
    check_codebase(codebase)
    check_campaign(remote)
    url = check_remote_url(request.form.get("url", ""))
    registered_codebase(codebase)
    set_parent(codebase, remote, url)
    return jsonify({"codebase": codebase, "remote": remote, "url": url})


def set_parent(codebase: str, remote: str, url: str) -> None:
    """Make ``url`` the parent of branch ``<cb>/<remote>``: 404 when there is no such branch."""
    try:
        set_parent_location(get_store().settings.repos_dir, f"{codebase}/{remote}", url)
    except errors.NotBranchError as exc:
        raise NotFound(f"no such branch: {codebase}/{remote}") from exc
    except urlutils.InvalidURL as exc:  # Breezy's URLs are ASCII: an IDN host, say
        raise BadRequest(f"url is not a URL Breezy accepts: {exc}") from exc
