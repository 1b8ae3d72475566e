"""What every browse page shares: ``/bzr/<loc>/-/…`` parsed, the branch opened, HTML or JSON,
and the validators that let a cache answer repeats without rendering.

A page addressed by revision id is immutable (strong ``ETag``, a year's
``Cache-Control``); any other page is tagged with the branch's tip, so a repeat costs
opening the branch and reading its last revision, then a 304.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, g, jsonify, request, url_for

from bzrstore.repos import browse as repos_browse
from bzrstore.web.listings import negotiate
from bzrstore.web.page_cache import cached_response
from bzrstore.web.preamble import get_store, registered_codebase

browse = Blueprint("browse", __name__)
T = TypeVar("T")

BROWSE_TYPES = ("text/html", "application/json")
# Every browse URL: /bzr/<loc>/-/<view>…; "-" is never a campaign or role name.
VIEW_SEPARATOR = "-"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Characters a revision id keeps as they are in a URL path (the rest percent-encoded,
# "/" included, so a revision id is one segment when encoded).
REVID_SAFE = "@:+=,"
WEB_DIR = Path(__file__).parent
# Formatted dates kept (a few revisions' worth of pages).
DATE_CACHE_SIZE = 8192
# Units of a relative date, largest first (a month is 30 days, a year 365).
AGE_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600),
             ("minute", 60))


def _render_version() -> str:
    """What the rendering depends on besides the data: the release, templates and styles.

    Part of every ETag, so a deployment that changes a page's look invalidates the tags.
    """
    digest = hashlib.sha256()
    try:
        digest.update(metadata.version("bzrstore").encode())
    except metadata.PackageNotFoundError:
        pass
    for path in sorted([*(WEB_DIR / "templates").rglob("*"), *(WEB_DIR / "static").rglob("*")]):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


RENDER_VERSION = _render_version()


@browse.app_template_filter("quote_revid")
def quote_revid(revid: bytes | str) -> str:
    """A revision id as one URL path segment."""
    text = revid.decode("utf-8", "replace") if isinstance(revid, bytes) else revid
    return quote(text, safe=REVID_SAFE)


@dataclass
class BrowseContext:
    """A browse request's branch: its location, the open branch and its tip."""

    location: repos_browse.Location
    branch: Any
    tip_revno: int
    tip: bytes

    def url(self, view: str, arg: str | None = None, **query: Any) -> str:
        """``/bzr/<loc>/-/<view>[/<arg>][?query]``; ``arg`` is put in as it is (quote it)."""
        url = f"{request.script_root}/bzr/{quote(self.location.path)}/{VIEW_SEPARATOR}/{view}"
        if arg is not None:
            url += "/" + arg
        query = {key: value for key, value in query.items() if value is not None}
        return url + ("?" + urlencode(query) if query else "")

    def absolute(self, url: str) -> str:
        """``url`` (one ``url`` made) with the scheme and host the request came in on."""
        return request.host_url.rstrip("/") + url

    def revision_url(self, revid: bytes, **query: Any) -> str:
        """The immutable page of revision ``revid`` in this branch."""
        return self.url("revision", quote_revid(revid), **query)

    @property
    def listing_url(self) -> str:
        """The codebase's branch listing."""
        return url_for("listings.branches", codebase=self.location.codebase)

    @property
    def branch_url(self) -> str:
        """The URL ``brz branch`` takes."""
        return f"{request.url_root}bzr/{quote(self.location.path)}"

    def diff_url(self, old: bytes, new: bytes) -> str:
        """The plain ``text/x-diff`` between two revisions (the diff API)."""
        return url_for("diffs.diff", codebase=self.location.codebase, old=old.decode(),
                       new=new.decode())

    def respond(self, view: str, parts: tuple[str, ...], *, build: Callable[[], T],
                html: Callable[[T], str], data: Callable[[T], Any], revid: bytes | None = None,
                hourly: bool = False, offered: tuple[str, ...] = BROWSE_TYPES) -> Response:
        """HTML or JSON by ``Accept``, tagged; a matching ``If-None-Match`` is a 304 unbuilt.

        ``build()`` gathers the page's data (only when it is to be sent), ``html`` or
        ``data`` turns it into the HTML text or the JSON value. With ``revid`` (the page
        was addressed by a revision id) the page is immutable; without, its tag holds
        the tip. ``hourly`` adds the hour: the page shows relative dates ("3 hours ago").
        ``offered``: the types by preference; JSON is ``data``'s, any other ``html``'s.
        """
        kind = negotiate(offered)
        response = self.tagged(
            (kind, view, *parts), revid, hourly,
            lambda: jsonify(data(build())) if kind == "application/json"
            else Response(html(build()), mimetype=kind), cached=True)
        response.vary.add("Accept")
        return response

    def tagged(self, parts: tuple[str, ...], revid: bytes | None, hourly: bool,
               make: Callable[[], Response], cached: bool = False) -> Response:
        """``make()``'s response with its ETag and Cache-Control, or a 304 without calling it.

        ``parts`` name what the response shows (type, view, parameters); ``revid`` and
        ``hourly`` as in ``respond``. ``cached``: ``make()`` may be answered from the page
        cache (its body depends on nothing but the tag and the URL). Raw files and
        tarballs (streamed) use this directly.
        """
        key = [RENDER_VERSION, self.location.path, *parts]
        key.append(revid.decode("utf-8", "replace") if revid is not None
                   else self.tip.decode("utf-8", "replace"))
        if hourly:
            key.append(datetime.now(UTC).strftime("%Y%m%d%H"))
        etag = hashlib.sha256("\0".join(key).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        if request.if_none_match.contains_weak(etag):
            response = Response(status=304)
        else:
            response = cached_response(etag, make) if cached else make()
        response.set_etag(etag)
        response.headers["Cache-Control"] = IMMUTABLE if revid is not None else REVALIDATE
        return response


@browse.app_template_filter("ago")
def format_age(timestamp: float, now: float | None = None) -> str:
    """How long ago ``timestamp`` was, in words: ``5 minutes ago``, ``3 years ago``."""
    seconds = (now if now is not None else datetime.now(UTC).timestamp()) - timestamp
    if seconds < 0:
        return "in the future"
    for unit, length in AGE_UNITS:
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


@browse.app_template_filter("localdate")
@functools.lru_cache(maxsize=DATE_CACHE_SIZE)  # strftime with %z: ~25 us, twice a row
def format_local_date(timestamp: float, offset_seconds: int | None = 0) -> str:
    """A commit's time as its author saw it: ``2026-11-28 06:30:00 +0100``."""
    offset = timedelta(seconds=offset_seconds or 0)
    moment = datetime.fromtimestamp(timestamp, timezone(offset))
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")


@browse.app_template_filter("person")
def format_person(identity: str) -> str:
    """The name in ``Name <email>`` (the address when there is no name)."""
    name, _, address = identity.partition("<")
    return name.strip() or address.rstrip(">").strip() or identity


@browse.app_template_filter("isodate")
@functools.lru_cache(maxsize=DATE_CACHE_SIZE)
def format_iso_date(timestamp: float) -> str:
    """A POSIX time in RFC 3339 (UTC), for ``<time datetime>`` and Atom."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_browse(location: str) -> BrowseContext:
    """Check ``location``, its codebase (400, 404) and open its branch (404 when none)."""
    checked = repos_browse.parse_location(location)
    registered_codebase(checked.codebase)
    codebase_dir = get_store().storage.codebase_dir(checked.codebase)
    branch = repos_browse.open_location(codebase_dir, checked)
    # One read lock for the whole request: each lock taken anew re-reads the branch's
    # last revision and the repository's pack-names (a jailed open each, ~0.5 ms).
    branch.lock_read()
    g.browse_branch = branch
    revno, tip = repos_browse.tip_of(branch)
    return BrowseContext(checked, branch, revno, tip)


@browse.teardown_app_request
def _unlock_branch(exc: BaseException | None) -> None:
    branch = g.pop("browse_branch", None)
    if branch is not None:
        branch.unlock()


def resolve(context: BrowseContext, spec: str) -> tuple[bytes, bool]:
    """The revision ``spec`` names, and whether it was named by id (the page is immutable)."""
    revid = repos_browse.resolve_spec(context.branch, spec)
    return revid, not repos_browse.REVNO_RE.fullmatch(spec)
