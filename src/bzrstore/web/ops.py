"""HTTP views other than the smart protocol: health, readiness, OpenAPI, control files."""

from __future__ import annotations

import os
import re

from flask import Blueprint, Response, jsonify, send_file
from werkzeug.exceptions import NotFound

from bzrstore.registry import RegistryUnavailable
from bzrstore.repos.names import InvalidName, split_branch_path
from bzrstore.web.openapi import build_document
from bzrstore.web.preamble import get_store, registered_codebase

ops = Blueprint("ops", __name__)

CONTROL_DIR = ".bzr"
# The files below a .bzr directory that brz reads over plain HTTP, found by running
# brz (log, info, branch, checkout, cat, pull, diff, ...) against a server whose smart
# path was hidden. Not lock/held/info: it names the server's host, user, pid and nonce.
CONTROL_FILE_RE = re.compile(
    r"branch-format"
    r"|branch/(?:format|branch\.conf|last-revision|tags|references)"
    r"|repository/(?:format|shared-storage|pack-names)"
    r"|repository/packs/[0-9a-f]{32}\.pack"
    r"|repository/indices/[0-9a-f]{32}\.[cirst]ix"
)


@ops.get("/health")
def health() -> Response:
    """Liveness: the process answers ``ok`` (no newline: what Janitor's checks compare)."""
    return Response("ok", mimetype="text/plain")


@ops.get("/metrics")
def metrics() -> Response:
    """Prometheus text format (summed over gunicorn workers in multiprocess mode)."""
    body, content_type = get_store().metrics.exposition()
    return Response(body, content_type=content_type)


@ops.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document of every endpoint but the smart protocol."""
    return jsonify(build_document())


@ops.get("/ready")
def ready() -> Response:
    """Readiness: the registry answers and the repositories directory is usable."""
    problem = unready_part()
    if problem is not None:
        return Response(f"{problem} unavailable\n", status=503, mimetype="text/plain")
    return Response("ok", mimetype="text/plain")


def unready_part() -> str | None:
    """What keeps this process from serving (``registry`` or ``storage``); None if nothing.

    An outage here is the answer, not an error: it is not logged, and always text.
    """
    store = get_store()
    try:
        store.registry.ping()
    except RegistryUnavailable:
        return "registry"
    repos = store.settings.repos_dir
    if not (repos.is_dir() and os.access(repos, os.R_OK | os.W_OK | os.X_OK)):
        return "storage"
    return None


@ops.get(f"/bzr/<path:location>/{CONTROL_DIR}/<path:name>")
def control_file(location: str, name: str) -> Response:
    """Plain-HTTP read of an allow-listed ``.bzr`` file (brz's fallback for http://).

    Anything else is 404, as is a path with a refused name: brz reads 404 as "not here"
    and keeps looking further up (``brz cat URL/.gitignore`` probes below the branch).
    """
    path = served_control_file(location, name)
    if path is None:
        raise NotFound("no such file")
    return send_file(path, mimetype="application/octet-stream", conditional=True)


def served_control_file(location: str, name: str) -> str | None:
    """The real path of control file ``name`` of ``<cb>[/<path>…]``; None unless served.

    A refused name is None too, not a 400: here it means "not here". An unregistered
    codebase is a 404 that says so.
    """
    if not CONTROL_FILE_RE.fullmatch(name):
        return None
    try:
        codebase, segments = split_branch_path(location)
    except InvalidName:
        return None
    registered_codebase(codebase)
    root = os.path.realpath(get_store().storage.codebase_dir(codebase))
    real = os.path.realpath(os.path.join(root, *segments, CONTROL_DIR, *name.split("/")))
    if not real.startswith(root + os.sep) or not os.path.isfile(real):
        return None
    return real
