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
    names, registry, auth, limits, then the codebase's mounted Breezy app) -> the Flask
    app (everything else).
    """
    # Imported here, not at the top: the command line and gunicorn.conf.py import
    # bzrstore's light modules and must not pay for Flask and Breezy.
    from bzrstore.config import load_settings
    from bzrstore.memory import set_mmap_threshold
    from bzrstore.metrics import MetricsMiddleware
    from bzrstore.repos.repair import heal_on_start
    from bzrstore.smart.app import SmartAppCache, make_smart_app
    from bzrstore.smart.diskfull import install_disk_full_errors
    from bzrstore.smart.dispatch import SmartDispatcher
    from bzrstore.smart.pushlog import install_hook
    from bzrstore.smart.verb_limits import build_command_registry
    from bzrstore.store import open_store
    from bzrstore.web import create_web_app
    from bzrstore.web.proxies import PublicURLFix, TrustedProxyFix

    settings = settings if settings is not None else load_settings()
    # Process-wide: the allocator's policy and Breezy's global hooks, once per process.
    set_mmap_threshold(settings.mmap_threshold_bytes)
    install_hook()
    install_disk_full_errors()
    store = open_store(settings)
    heal_on_start(settings.repos_dir)
    commands = build_command_registry()

    def mount(codebase: str, writable: bool):
        return make_smart_app(store.storage.codebase_dir(codebase), writable,
                              settings.max_body_bytes, commands)

    app = create_web_app(store)
    dispatcher = SmartDispatcher(
        app.wsgi_app, store.registry, store.storage, store.authenticator,
        SmartAppCache(mount, settings.smart_app_cache_size), commands,
        settings.max_body_bytes, settings.campaigns, settings.codebase_cache_seconds,
        store.metrics, anonymous_body_bytes=settings.anonymous_body_bytes,
    )
    app.wsgi_app = MetricsMiddleware(dispatcher, store.metrics)
    if settings.public_url:
        app.wsgi_app = PublicURLFix(app.wsgi_app, settings.public_url)
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.trusted_proxies)
    return app
