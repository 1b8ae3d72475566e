"""The admin page (admins only) and the push log as JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from breezy import errors
from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import BadRequest

from bzrstore.repos.branches import break_lock
from bzrstore.web.access import admin_required, current_user, same_origin
from bzrstore.web.csrf import check_form_token, form_token
from bzrstore.web.params import int_arg, page_arg, text_arg
from bzrstore.web.preamble import get_store

admin = Blueprint("admin", __name__)

PAGE_SIZE = 100
RECENT_PUSHES = 50
MAX_PUSHES = 1000
# The form whose tokens the break-lock action accepts.
BREAK_LOCK_FORM = "break-lock"


def disk_usage(path: Path) -> int:
    """Bytes used by the files under ``path`` (0 if it does not exist yet)."""
    total = 0
    for directory, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(directory, name)).st_size for name in files)
    return total


@admin.get("/admin/")
@admin_required
def overview() -> Response:
    """Codebases with size, branches and last push; workers; recent pushes."""
    page = page_arg(request.args)
    listing = overview_of(text_arg(request.args, "q"), page)
    return Response(render_template("admin.html", **listing,
                                    csrf_token=form_token(BREAK_LOCK_FORM, current_user())))


def overview_of(query: str, page: int) -> dict[str, Any]:
    """What the admin page shows: a page of codebases matching ``query``, workers, pushes."""
    registry = get_store().registry
    names, total = registry.page_codebases(query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    sizes = {name: disk_usage(get_store().storage.codebase_dir(name)) for name in names}
    return {"codebases": registry.codebase_activity(names), "sizes": sizes, "total": total,
            "page": page, "per_page": PAGE_SIZE, "workers": registry.list_workers(),
            "pushes": registry.recent_pushes(limit=RECENT_PUSHES)}


@admin.post("/admin/break-lock")
@same_origin  # before the credentials: browsers replay cached ones
@admin_required
def break_lock_action() -> Response:
    """Break the lock of ``<cb>[/<branch>]`` left by a client that died."""
    check_form_token(BREAK_LOCK_FORM, current_user())
    target = request.form.get("target", "")
    lines = break_target_lock(target)
    return Response(render_template("break_lock.html", target=target, lines=lines))


def break_target_lock(target: str) -> list[str]:
    """What breaking the locks at ``target`` did: 400 when there is no branch or repository."""
    try:
        return break_lock(get_store().settings.repos_dir, target)
    except errors.NotBranchError as exc:
        raise BadRequest(f"no branch or repository at {target!r}") from exc


@admin.get("/api/pushes")
def pushes() -> Response:
    """The push log as JSON, newest first: ``?codebase=`` and ``?limit=`` (at most 1000)."""
    limit = int_arg(request.args, "limit", RECENT_PUSHES, maximum=MAX_PUSHES)
    rows = get_store().registry.recent_pushes(text_arg(request.args, "codebase") or None, limit)
    return jsonify([row.__dict__ for row in rows])
