"""The HTTP API for scripts and services: diffs and revision info between two revisions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context, url_for
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from bzrstore.errors import render_error
from bzrstore.repos import diffs
from bzrstore.repos import revisions as bzr
from bzrstore.repos.names import InvalidName, check_codebase
from bzrstore.repos.revisions import InvalidRevision, UnknownRevision
from bzrstore.web.preamble import get_store

api = Blueprint("api", __name__)


@api.get("/<codebase>/diff")
def diff(codebase: str) -> Response:
    """``text/x-diff`` from ``old`` to ``new`` (optionally only ``path``), streamed."""
    repository, old, new = _open_revisions(codebase)
    settings = get_store().settings
    limits = diffs.DiffLimits(settings.diff_timeout_seconds, settings.diff_max_bytes,
                              settings.diff_max_file_bytes)
    path = request.args.get("path") or None
    try:
        chunks = diffs.write_diff(repository, old, new, path, limits)
    except InvalidRevision as exc:
        raise BadRequest(str(exc)) from exc
    except UnknownRevision as exc:
        raise NotFound(str(exc)) from exc
    return Response(stream_with_context(chunks), mimetype="text/x-diff")


@api.get("/<codebase>/revision-info")
def revision_info(codebase: str) -> Response:
    """JSON list, newest first, of the left-hand ancestry of ``new`` not in ``old``."""
    try:
        repository, old, new = _open_revisions(codebase)
    except HTTPException as exc:
        # A JSON endpoint answers errors in JSON whatever the client's Accept says.
        return render_error(exc, {**request.environ, "HTTP_ACCEPT": "application/json"})

    def link(revid: bytes, parent: bytes) -> str:
        return url_for("api.diff", codebase=codebase, old=parent.decode(),
                       new=revid.decode(), _external=True)

    entries, following = bzr.revision_info(repository, old, new, link,
                                           bzr.MAX_REVISION_INFO_ENTRIES)
    response = jsonify(entries)
    if following is not None:  # more than one answer holds: where the next page starts
        url = url_for("api.revision_info", codebase=codebase, old=old.decode(),
                      new=following.decode(), _external=True)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response


def _open_revisions(codebase: str) -> tuple[Any, bytes, bytes]:
    """The codebase's repository and the resolved ``old`` and ``new`` query parameters."""
    try:
        check_codebase(codebase)
    except InvalidName as exc:
        raise BadRequest(str(exc)) from exc
    store = get_store()
    if not store.registry.codebase_exists(codebase):
        raise NotFound(f"no such codebase: {codebase}")
    names = [request.args.get(key, "") for key in ("old", "new")]
    if not all(names):
        raise BadRequest("both 'old' and 'new' revision ids are required")
    repository = bzr.open_repository(store.storage.ensure_repository(codebase))
    try:
        old, new = (bzr.resolve_revision(repository, name) for name in names)
    except InvalidRevision as exc:
        raise BadRequest(str(exc)) from exc
    except UnknownRevision as exc:
        raise NotFound(str(exc)) from exc
    return repository, old, new
