"""What every Flask request goes through: the store, hooks run first, errors rendered once.

Views raise; they never turn an error into a response. A bad name is a 400, an unknown
codebase or revision a 404, a registry outage a 503, whichever view meets it: the
handlers below say so once. A codebase in a URL is checked by ``registered_codebase``,
which each view calls where its checks put it (after content negotiation in the
listing, after Origin and auth in remotes). Not by a URL converter: it would run while
the route is matched, before all of those; its ValidationError makes the route not
match (a 404 where a bad name is a 400), and an HTTPException raised there answers
before negotiation or auth and leaves the request without its route in the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, request
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
)

from bzrstore.auth import parse_basic_auth
from bzrstore.errors import render_error
from bzrstore.metrics import ROUTE_KEY
from bzrstore.registry import RegistryUnavailable
from bzrstore.repos.names import InvalidName, check_codebase
from bzrstore.repos.revisions import InvalidRevision, UnknownRevision
from bzrstore.store import Store

log = logging.getLogger(__name__)

STORE_KEY = "bzrstore"
# What the client got wrong (a 400) or asked for in vain (a 404), whichever view raised it.
CLIENT_ERRORS: dict[type[Exception], type[HTTPException]] = {
    InvalidName: BadRequest,
    InvalidRevision: BadRequest,
    UnknownRevision: NotFound,
}
# Set in ``g`` while a view decorated with ``json_errors`` runs.
_JSON_ERRORS = "bzrstore_json_errors"


def get_store() -> Store:
    """The store of the current Flask app."""
    return current_app.extensions[STORE_KEY]


def registered_codebase(name: str) -> str:
    """``name`` if it is a valid codebase the registry holds: else 400 (bad name) or 404."""
    check_codebase(name)
    if not get_store().registry.codebase_exists(name):
        raise NotFound(f"no such codebase: {name}")
    return name


def json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer the client errors ``view`` raises in JSON, whatever the client's Accept says."""
    @wraps(view)
    def json_erring_view(*args: Any, **kwargs: Any) -> Any:
        setattr(g, _JSON_ERRORS, True)
        return view(*args, **kwargs)
    return json_erring_view


def install_preamble(app: Flask) -> None:
    """Register the request hooks and the error handlers on ``app``."""
    app.before_request(_label_route)
    app.before_request(_refuse_malformed_credentials)
    app.register_error_handler(HTTPException, _render_http_error)
    for error in CLIENT_ERRORS:
        app.register_error_handler(error, _render_client_error)
    app.register_error_handler(RegistryUnavailable, _render_registry_unavailable)
    app.register_error_handler(Exception, _render_unexpected)


def _label_route() -> None:
    # The rule, not the path, so that metrics have one series per endpoint.
    request.environ[ROUTE_KEY] = request.url_rule.rule if request.url_rule else "unmatched"


def _refuse_malformed_credentials() -> None:
    # Every route, even anonymous ones: a client that sent credentials must not be
    # served as anonymous because they could not be read (parse raises the 401).
    parse_basic_auth(request.environ)


def _render_http_error(exc: HTTPException):
    # Only what a view raised follows json_errors: a 401 from the hooks above, an outage
    # and a crash are answered as everywhere else.
    return render_error(exc, request.environ, as_json=g.get(_JSON_ERRORS))


def _render_client_error(exc: Exception):
    status = next(http for error, http in CLIENT_ERRORS.items() if isinstance(exc, error))
    return _render_http_error(status(str(exc)))


def _render_registry_unavailable(exc: RegistryUnavailable):
    log.error("registry unavailable on %s: %s", request.path, exc)
    return render_error(ServiceUnavailable("registry unavailable"), request.environ)


def _render_unexpected(exc: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return render_error(InternalServerError("internal error"), request.environ)
