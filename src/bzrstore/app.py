"""Wiring: settings -> registry, storage, auth -> Flask views -> smart dispatcher on top."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from .auth import Authenticator, parse_basic_auth
from .config import Settings
from .diskfull import install_disk_full_errors
from .dispatch import SmartDispatcher
from .errors import render_error
from .login_limits import LoginLimits
from .memory import set_mmap_threshold
from .metrics import Metrics, MetricsMiddleware, make_metrics
from .proxies import PublicURLFix, TrustedProxyFix
from .pushlog import install_hook
from .registry import Registry, RegistryUnavailable, open_registry
from .repair import heal_on_start
from .smart import SmartAppCache, build_command_registry, make_smart_app
from .storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Store:
    """What the views need: settings, registry, storage, authenticator, mounted apps."""

    settings: Settings
    registry: Registry
    storage: Storage
    authenticator: Authenticator
    apps: SmartAppCache
    metrics: Metrics


def get_store() -> Store:
    """The store of the current Flask app."""
    return current_app.extensions["bzrstore"]


def build_app(settings: Settings) -> Flask:
    """Create the Flask app with the smart dispatcher wrapped around its wsgi_app."""
    set_mmap_threshold(settings.mmap_threshold_bytes)
    install_hook()
    install_disk_full_errors()
    registry = open_registry(settings)
    registry.ensure_schema()
    settings.repos_dir.mkdir(parents=True, exist_ok=True)
    heal_on_start(settings.repos_dir)
    storage = Storage(settings.repos_dir)
    commands = build_command_registry()

    def mount(codebase: str, writable: bool):
        return make_smart_app(storage.codebase_dir(codebase), writable,
                              settings.max_body_bytes, commands)

    apps = SmartAppCache(mount, settings.smart_app_cache_size)
    metrics = make_metrics()
    limits = LoginLimits(settings.run_dir, settings.auth_max_failures,
                         settings.auth_failure_window_seconds)
    authenticator = Authenticator(registry, settings.auth_cache_seconds, limits=limits)
    store = Store(settings, registry, storage, authenticator, apps, metrics)

    app = Flask(__name__)
    app.extensions["bzrstore"] = store
    from .admin import admin
    from .api import api
    from .listings import listings
    from .remotes import remotes
    from .views import views

    app.register_blueprint(views)
    app.register_blueprint(api)
    app.register_blueprint(listings)
    app.register_blueprint(remotes)
    app.register_blueprint(admin)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(RegistryUnavailable, _render_registry_unavailable)
    app.register_error_handler(Exception, _render_unexpected)
    app.before_request(_label_route)
    app.before_request(_refuse_malformed_credentials)
    dispatcher = SmartDispatcher(
        app.wsgi_app, registry, storage, store.authenticator, apps, commands,
        settings.max_body_bytes, settings.campaigns, settings.codebase_cache_seconds,
        metrics, anonymous_body_bytes=settings.anonymous_body_bytes,
    )
    app.wsgi_app = MetricsMiddleware(dispatcher, metrics)
    if settings.public_url:
        app.wsgi_app = PublicURLFix(app.wsgi_app, settings.public_url)
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.trusted_proxies)
    return app


def _label_route() -> None:
    # The rule, not the path, so that metrics have one series per endpoint.
    request.environ["bzrstore.route"] = request.url_rule.rule if request.url_rule else "unmatched"


def _refuse_malformed_credentials() -> None:
    # Every route, even anonymous ones: a client that sent credentials must not be
    # served as anonymous because they could not be read (parse raises the 401).
    parse_basic_auth(request.environ)


def _render_http_error(exc: HTTPException):
    return render_error(exc, request.environ)


def _render_registry_unavailable(exc: RegistryUnavailable):
    log.error("registry unavailable on %s: %s", request.path, exc)
    return render_error(ServiceUnavailable("registry unavailable"), request.environ)


def _render_unexpected(exc: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return render_error(InternalServerError("internal error"), request.environ)
