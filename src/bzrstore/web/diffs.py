"""The HTTP API for scripts and services: diffs and revision info between two revisions."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context, url_for
from werkzeug.exceptions import BadRequest

from bzrstore.repos import revisions
from bzrstore.repos.diffs import DiffLimits, write_diff
from bzrstore.web.preamble import get_store, json_errors, registered_codebase

diffs = Blueprint("diffs", __name__)


@diffs.get("/<codebase>/diff")
def diff(codebase: str) -> Response:
    """``text/x-diff`` from ``old`` to ``new`` (optionally only ``path``), streamed."""
    repository, old, new = open_revisions(codebase)
    chunks = write_diff(repository, old, new, request.args.get("path") or None, diff_limits())
    return Response(stream_with_context(chunks), mimetype="text/x-diff")


@diffs.get("/<codebase>/revision-info")
@json_errors  # a JSON endpoint answers errors in JSON whatever the client's Accept says
def revision_info(codebase: str) -> Response:
    """JSON list, newest first, of the left-hand ancestry of ``new`` not in ``old``."""
    repository, old, new = open_revisions(codebase)
    entries, following = revisions.revision_info(repository, old, new, partial(diff_url, codebase),
                                           revisions.MAX_REVISION_INFO_ENTRIES)
    response = jsonify(entries)
    if following is not None:  # more than one answer holds: where the next page starts
        url = url_for("diffs.revision_info", codebase=codebase, old=old.decode(),
                      new=following.decode(), _external=True)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response


def diff_url(codebase: str, revid: bytes, parent: bytes) -> str:
    """The URL of revision ``revid``'s diff against ``parent``."""
    return url_for("diffs.diff", codebase=codebase, old=parent.decode(), new=revid.decode(),
                   _external=True)


def diff_limits() -> DiffLimits:
    """The time and size limits of a diff, from the settings."""
    settings = get_store().settings
    return DiffLimits(settings.diff_timeout_seconds, settings.diff_max_bytes,
                      settings.diff_max_file_bytes)


def open_revisions(codebase: str) -> tuple[Any, bytes, bytes]:
    """The codebase's repository and the resolved ``old`` and ``new`` query parameters."""
    registered_codebase(codebase)
    names = [request.args.get(key, "") for key in ("old", "new")]
    if not all(names):
        raise BadRequest("both 'old' and 'new' revision ids are required")
    repository = revisions.open_repository(get_store().storage.ensure_repository(codebase))
    old, new = (revisions.resolve_revision(repository, name) for name in names)
    return repository, old, new
