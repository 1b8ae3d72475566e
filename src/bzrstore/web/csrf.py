"""Cross-site request checks for browser-facing POSTs: exact Origin and signed form tokens.

Browsers replay cached Basic credentials on any request to our origin, even one a
page elsewhere makes them send, so credentials alone do not show that a person of
ours meant the action.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import Forbidden

from bzrstore.web.preamble import get_store

# An admin page left open this long still submits; an older token is refused.
FORM_TOKEN_MAX_AGE_SECONDS = 3600
# Keeps tokens of this use apart from any other use of the same key.
FORM_TOKEN_SALT = "bzrstore-form"
DEFAULT_PORTS = {"http": 80, "https": 443}
_SERIALIZER_KEY = "bzrstore.form_serializer"


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of ``url`` with the default port filled in; None if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def refuse_foreign_origin(required: bool) -> None:
    """403 unless ``Origin`` is exactly ours (scheme, host, port); a missing one passes
    unless ``required``. Ours is ``BZRSTORE_PUBLIC_URL`` when set, else the request's."""
    origin = request.headers.get("Origin")
    if origin is None:
        if required:
            raise Forbidden("cross-site form submission refused: no Origin")
        return
    if _origin_of(origin) != _origin_of(request.host_url) or _origin_of(origin) is None:
        raise Forbidden("cross-site form submission refused")


def _serializer() -> URLSafeTimedSerializer:
    serializer = current_app.extensions.get(_SERIALIZER_KEY)
    if serializer is None:
        store = get_store()
        key = store.settings.secret_key or store.registry.form_signing_key()
        serializer = URLSafeTimedSerializer(key, salt=FORM_TOKEN_SALT)
        current_app.extensions[_SERIALIZER_KEY] = serializer
    return serializer


def form_token(form: str, user: str) -> str:
    """A token for ``form`` shown to ``user``, valid for FORM_TOKEN_MAX_AGE_SECONDS."""
    return _serializer().dumps([form, user])


def check_form_token(form: str, user: str) -> None:
    """403 unless the submitted ``csrf_token`` was made for this form and this user."""
    token = request.form.get("csrf_token", "")
    try:
        payload = _serializer().loads(token, max_age=FORM_TOKEN_MAX_AGE_SECONDS)
    except BadSignature as exc:  # also an expired one (SignatureExpired)
        raise Forbidden("form token missing, expired or invalid: reload the page") from exc
    if payload != [form, user]:
        raise Forbidden("form token was made for another form or user")
