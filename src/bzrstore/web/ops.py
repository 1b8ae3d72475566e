"""HTTP views other than the smart protocol: health, readiness, OpenAPI, control files."""

from __future__ import annotations

import os
import re

from flask import Blueprint, Response, jsonify, send_file
from werkzeug.exceptions import NotFound

from bzrstore.registry import RegistryUnavailable
from bzrstore.repos.names import InvalidName, split_branch_path
from bzrstore.web.openapi import build_document
from bzrstore.web.preamble import get_store

views = Blueprint("views", __name__)

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


@views.get("/health")
def health() -> Response:
    """Liveness: the process answers."""
    return Response("ok\n", mimetype="text/plain")


@views.get("/metrics")
def metrics() -> Response:
    """Prometheus text format (summed over gunicorn workers in multiprocess mode)."""
    body, content_type = get_store().metrics.exposition()
    return Response(body, content_type=content_type)


@views.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document of every endpoint but the smart protocol."""
    return jsonify(build_document())


@views.get("/ready")
def ready() -> Response:
    """Readiness: the registry answers and the repositories directory is usable."""
    store = get_store()
    try:
        store.registry.ping()
    except RegistryUnavailable:
        return Response("registry unavailable\n", status=503, mimetype="text/plain")
    repos = store.settings.repos_dir
    if not (repos.is_dir() and os.access(repos, os.R_OK | os.W_OK | os.X_OK)):
        return Response("storage unavailable\n", status=503, mimetype="text/plain")
    return Response("ready\n", mimetype="text/plain")


@views.get(f"/bzr/<path:location>/{CONTROL_DIR}/<path:name>")
def control_file(location: str, name: str) -> Response:
    """Plain-HTTP read of an allow-listed ``.bzr`` file (brz's fallback for http://).

    Anything else is 404, as is a path with a refused name: brz reads 404 as "not here"
    and keeps looking further up (``brz cat URL/.gitignore`` probes below the branch).
    """
    store = get_store()
    if not CONTROL_FILE_RE.fullmatch(name):
        raise NotFound("no such file")
    try:
        codebase, segments = split_branch_path(location)
    except InvalidName as exc:
        raise NotFound("no such file") from exc
    if not store.registry.codebase_exists(codebase):
        raise NotFound(f"no such codebase: {codebase}")
    root = os.path.realpath(store.storage.codebase_dir(codebase))
    path = os.path.join(root, *segments, CONTROL_DIR, *name.split("/"))
    real = os.path.realpath(path)
    if not real.startswith(root + os.sep) or not os.path.isfile(real):
        raise NotFound("no such file")
    return send_file(real, mimetype="application/octet-stream", conditional=True)
