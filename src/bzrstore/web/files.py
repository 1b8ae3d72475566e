"""Browse a branch's files: directory listings, file views, annotate, raw bytes, tarballs.

Each view parses its URL, calls ``repos`` (``trees``, ``annotate``, ``tarballs``) and
answers through ``BrowseContext``: HTML or JSON, an ETag from the revision id (immutable)
or from the tip, and a 304 before anything is read. What a page costs is bounded in
``repos``: listings, file views and annotations are cut at their limits and say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, render_template, request

from bzrstore.repos.annotate import annotate_file
from bzrstore.web import file_pages as pages
from bzrstore.web.browsing import BrowseContext, open_browse, resolve

files = Blueprint("files", __name__)

PREFIX = "/bzr/<path:location>/-"


def revision_arg(context: BrowseContext) -> tuple[bytes, str, bytes | None]:
    """The revision ``?rev=`` names (the tip without it), the spec, and the immutable id."""
    spec = request.args.get("rev")
    if spec is None:
        return context.tip, "", None
    revid, by_id = resolve(context, spec)
    return revid, spec, revid if by_id else None


def page_at_revision(location: str, view: str, path: str,
                     build: Callable[[BrowseContext, bytes, str, str], dict[str, Any]],
                     data: Callable[[dict[str, Any]], Any]) -> Response:
    """A page about ``path`` at ``?rev=``, made by ``build``.

    It is rendered from ``browse/<view>.html``, or as JSON by ``data``.
    """
    context = open_browse(location)
    revid, spec, immutable = revision_arg(context)
    return context.respond(
        view, (path, spec), revid=immutable,
        build=lambda: build(context, revid, spec, path),
        html=lambda page: render_template(f"browse/{view}.html", **page),
        data=data)


@files.get(f"{PREFIX}/files", defaults={"path": ""})
@files.get(f"{PREFIX}/files/<path:path>")
def directory(location: str, path: str) -> Response:
    """The directory ``path`` at ``?rev=`` (default the tip): directories first, sizes."""
    return page_at_revision(location, "files", path, pages.directory_page, pages.directory_json)


@files.get(f"{PREFIX}/file/<path:path>")
def file(location: str, path: str) -> Response:
    """One file at ``?rev=``: highlighted lines with ``#L<n>`` anchors, or why not shown."""
    return page_at_revision(location, "file", path, pages.file_page, pages.file_json)


@files.get(f"{PREFIX}/annotate/<path:path>")
def annotate(location: str, path: str) -> Response:
    """Each line of a file at ``?rev=`` with the revision that last changed it."""

    def build(context: BrowseContext, revid: bytes, spec: str, path: str) -> dict[str, Any]:
        annotation = annotate_file(context.branch.repository, revid, path,
                                   pages.line_cache(), context.location.codebase)
        return pages.annotate_page(context, revid, spec, annotation)

    return page_at_revision(location, "annotate", path, build, pages.annotate_json)


@files.get(f"{PREFIX}/raw/<path:path>")
def raw(location: str, path: str) -> Response:
    """A file's bytes at ``?rev=``: text as ``text/plain``, anything else as a download."""
    context = open_browse(location)
    revid, spec, immutable = revision_arg(context)
    return context.tagged(("raw", path, spec), immutable, False,
                          lambda: pages.raw_response(context, revid, path))


@files.get(f"{PREFIX}/tarball")
def tarball(location: str) -> Response:
    """The tree at ``?rev=`` as a streamed ``.tar.gz``."""
    context = open_browse(location)
    revid, spec, immutable = revision_arg(context)
    return context.tagged(("tarball", spec), immutable, False,
                          lambda: pages.tarball_response(context, revid))
