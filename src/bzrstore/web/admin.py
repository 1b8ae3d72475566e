"""The admin page (admins only) and the push log as JSON."""

from __future__ import annotations

import os
from pathlib import Path

from breezy import errors
from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import BadRequest, Forbidden

from bzrstore.auth import require_worker
from bzrstore.repos.branches import break_lock
from bzrstore.repos.names import InvalidName
from bzrstore.web.csrf import check_form_token, form_token, refuse_foreign_origin
from bzrstore.web.params import int_arg, page_arg, text_arg
from bzrstore.web.preamble import get_store

admin = Blueprint("admin", __name__)

PAGE_SIZE = 100
RECENT_PUSHES = 50
MAX_PUSHES = 1000
# The form whose tokens the break-lock action accepts.
BREAK_LOCK_FORM = "break-lock"


def _require_admin() -> str:
    """The admin making this request: 401 without good credentials, 403 for non-admins."""
    store = get_store()
    worker = require_worker(store.authenticator, request.environ)
    if not store.registry.is_admin(worker):
        raise Forbidden("admins only")
    return worker


def disk_usage(path: Path) -> int:
    """Bytes used by the files under ``path`` (0 if it does not exist yet)."""
    total = 0
    for directory, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(directory, name)).st_size for name in files)
    return total


@admin.get("/admin/")
def overview() -> Response:
    """Codebases with size, branches and last push; workers; recent pushes."""
    user = _require_admin()
    store = get_store()
    page = page_arg(request.args)
    names, total = store.registry.page_codebases(text_arg(request.args, "q"), PAGE_SIZE,
                                                 (page - 1) * PAGE_SIZE)
    sizes = {name: disk_usage(store.storage.codebase_dir(name)) for name in names}
    return Response(render_template(
        "admin.html", codebases=store.registry.codebase_activity(names), sizes=sizes,
        total=total, page=page, per_page=PAGE_SIZE,
        workers=store.registry.list_workers(), csrf_token=form_token(BREAK_LOCK_FORM, user),
        pushes=store.registry.recent_pushes(limit=RECENT_PUSHES)))


@admin.post("/admin/break-lock")
def break_lock_action() -> Response:
    """Break the lock of ``<cb>[/<branch>]`` left by a client that died."""
    refuse_foreign_origin(required=False)
    check_form_token(BREAK_LOCK_FORM, _require_admin())
    target = request.form.get("target", "")
    try:
        lines = break_lock(get_store().settings.repos_dir, target)
    except InvalidName as exc:
        raise BadRequest(str(exc)) from exc
    except errors.NotBranchError as exc:
        raise BadRequest(f"no branch or repository at {target!r}") from exc
    return Response(render_template("break_lock.html", target=target, lines=lines))


@admin.get("/api/pushes")
def pushes() -> Response:
    """The push log as JSON, newest first: ``?codebase=`` and ``?limit=`` (at most 1000)."""
    limit = int_arg(request.args, "limit", RECENT_PUSHES, maximum=MAX_PUSHES)
    rows = get_store().registry.recent_pushes(text_arg(request.args, "codebase") or None, limit)
    return jsonify([row.__dict__ for row in rows])
