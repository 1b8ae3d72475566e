"""bzrstore: a Bazaar repository store served over HTTP."""

from __future__ import annotations

from flask import Flask

from .config import Settings, load_settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI app: registry, storage, views and error handlers, smart dispatch."""
    from .app import build_app

    return build_app(settings if settings is not None else load_settings())
