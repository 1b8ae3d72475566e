"""What every Flask request goes through: the store, hooks run first, errors rendered once."""

from __future__ import annotations

import logging

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from bzrstore.auth import parse_basic_auth
from bzrstore.errors import render_error
from bzrstore.registry import RegistryUnavailable
from bzrstore.store import Store

log = logging.getLogger(__name__)

STORE_KEY = "bzrstore"


def get_store() -> Store:
    """The store of the current Flask app."""
    return current_app.extensions[STORE_KEY]


def install_preamble(app: Flask) -> None:
    """Register the request hooks and the error handlers on ``app``."""
    app.before_request(_label_route)
    app.before_request(_refuse_malformed_credentials)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(RegistryUnavailable, _render_registry_unavailable)
    app.register_error_handler(Exception, _render_unexpected)


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
