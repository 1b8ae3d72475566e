"""bzrstore: a Bazaar repository store served over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from bzrstore.config import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    """The whole WSGI onion, outermost first.

    ``TrustedProxyFix`` / ``PublicURLFix`` (where a request was made to) ->
    ``MetricsMiddleware`` (count and time it) -> ``SmartDispatcher`` (``…/.bzr/smart``:
    names, registry, auth, limits, then the codebase's mounted Breezy app; smart/) ->
    the Flask app (everything else; web/).
    """
    # Imported here, not at the top: the command line and gunicorn.conf.py import
    # bzrstore's light modules and must not pay for Flask and Breezy.
    from bzrstore.config import load_settings
    from bzrstore.memory import set_mmap_threshold
    from bzrstore.metrics import MetricsMiddleware
    from bzrstore.repos.repair import heal_on_start
    from bzrstore.smart.dispatch import make_smart_dispatcher
    from bzrstore.store import open_store
    from bzrstore.web import create_web_app
    from bzrstore.web.proxies import PublicURLFix, TrustedProxyFix

    settings = settings if settings is not None else load_settings()
    # Process-wide: the allocator's policy, once per process.
    set_mmap_threshold(settings.mmap_threshold_bytes)
    store = open_store(settings)
    heal_on_start(settings.repos_dir)
    app = create_web_app(store)
    app.wsgi_app = make_smart_dispatcher(store, app.wsgi_app)
    app.wsgi_app = MetricsMiddleware(app.wsgi_app, store.metrics)
    if settings.public_url:
        app.wsgi_app = PublicURLFix(app.wsgi_app, settings.public_url)
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.trusted_proxies)
    return app
