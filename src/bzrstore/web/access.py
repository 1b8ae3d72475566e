"""Who may call a view, decided by decorators: ``worker_required``, ``admin_required``.

The decision itself is the store's (``Store.require_worker`` / ``require_admin``, which
the smart path shares); these put it in front of a view and leave the caller's name in
``g.user``. ``same_origin`` goes above them: a cross-site form is refused (403) before
any credentials are looked at, as browsers replay cached ones.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from bzrstore.web.csrf import refuse_foreign_origin
from bzrstore.web.preamble import get_store

View = Callable[..., Any]


def same_origin(view: View) -> View:
    """Refuse (403) a request to ``view`` whose ``Origin`` is not ours; brz sends none."""
    @wraps(view)
    def same_origin_view(*args: Any, **kwargs: Any) -> Any:
        refuse_foreign_origin(required=False)
        return view(*args, **kwargs)
    return same_origin_view


def worker_required(view: View) -> View:
    """Run ``view`` for workers only (401 with the Basic challenge otherwise)."""
    @wraps(view)
    def worker_view(*args: Any, **kwargs: Any) -> Any:
        g.user = get_store().require_worker(request.environ)
        return view(*args, **kwargs)
    return worker_view


def admin_required(view: View) -> View:
    """Run ``view`` for admins only: 401 without good credentials, 403 for other workers."""
    @wraps(view)
    def admin_view(*args: Any, **kwargs: Any) -> Any:
        g.user = get_store().require_admin(request.environ)
        return view(*args, **kwargs)
    return admin_view


def current_user() -> str:
    """The worker a ``worker_required`` or ``admin_required`` view runs for."""
    return g.user
