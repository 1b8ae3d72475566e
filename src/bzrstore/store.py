"""The Store: what every request reaches (settings, registry, storage, auth, metrics).

Built once per process by ``open_store``; the web face reaches it through
``current_app`` (``web.preamble.get_store``), the smart dispatcher takes it as an argument.
Who may do what is decided here, in ``identify``, ``require_worker`` and ``require_admin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import Forbidden

from bzrstore.auth import Authenticator, parse_basic_auth
from bzrstore.config import Settings
from bzrstore.errors import unauthorized
from bzrstore.login_limits import LoginLimits
from bzrstore.metrics import Metrics, make_metrics
from bzrstore.page_budget import PageBudget
from bzrstore.registry import Registry, open_registry
from bzrstore.repos.storage import Storage


@dataclass(frozen=True)
class Store:
    """Settings, registry, storage, authenticator, metrics and page budget of one process."""

    settings: Settings
    registry: Registry
    storage: Storage
    authenticator: Authenticator
    metrics: Metrics
    page_budget: PageBudget

    def identify(self, environ: dict[str, Any]) -> str | None:
        """The worker whose credentials came with the request; None without any.

        Credentials that are malformed or wrong are a 401, never anonymous: a client
        that meant to authenticate must learn that it did not.
        """
        credentials = parse_basic_auth(environ)
        if credentials is None:
            return None
        if not self.authenticator.authenticate(*credentials, environ.get("REMOTE_ADDR", "")):
            raise unauthorized("invalid credentials")
        return credentials[0]

    def require_worker(self, environ: dict[str, Any],
                       reason: str = "authentication required") -> str:
        """The worker making the request; 401 (saying ``reason``) without credentials."""
        worker = self.identify(environ)
        if worker is None:
            raise unauthorized(reason)
        return worker

    def require_admin(self, environ: dict[str, Any]) -> str:
        """The admin making the request: 401 without good credentials, 403 for non-admins."""
        worker = self.require_worker(environ)
        if not self.registry.is_admin(worker):
            raise Forbidden("admins only")
        return worker


def open_store(settings: Settings) -> Store:
    """The store the settings describe; SchemaBehind if its database needs an upgrade.

    The embedded SQLite registry upgrades itself; PostgreSQL's is only checked (no DDL,
    so the service's role needs no CREATE): ``bzrstore db upgrade`` changes it.
    """
    registry = open_registry(settings)
    try:
        registry.prepare_schema()
    except BaseException:
        registry.close()
        raise
    settings.repos_dir.mkdir(parents=True, exist_ok=True)
    limits = LoginLimits(settings.run_dir, settings.auth_max_failures,
                         settings.auth_failure_window_seconds)
    authenticator = Authenticator(registry, settings.auth_cache_seconds, limits=limits,
                                  reference_rounds=settings.bcrypt_cost)
    budget = PageBudget(settings.run_dir, settings.page_budget,
                        settings.page_budget_window_seconds)
    return Store(settings, registry, Storage(settings.repos_dir), authenticator, make_metrics(),
                 budget)
