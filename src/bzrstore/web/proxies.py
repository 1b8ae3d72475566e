"""Where a request was made to: X-Forwarded-* from a trusted proxy, or the public URL."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxyFix:
    """werkzeug's ``ProxyFix`` for requests whose peer is a trusted proxy; others untouched.

    One hop is trusted (the last value of each header, the one nginx set): a chain of
    proxies should present a single trusted one to bzrstore (nginx's realip module).
    """

    def __init__(self, app: Any, proxies: Iterable[str]) -> None:
        self.app = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
        self.networks = tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Apply ``ProxyFix`` only when ``REMOTE_ADDR`` is one of the trusted proxies."""
        app = self.fixed if self.is_trusted(environ.get("REMOTE_ADDR", "")) else self.app
        return app(environ, start_response)

    def is_trusted(self, address: str) -> bool:
        """Whether ``address`` is in one of the trusted networks."""
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:  # a Unix socket peer, or none
            return False
        return any(peer in network for network in self.networks)


class PublicURLFix:
    """Requests seen as made to ``BZRSTORE_PUBLIC_URL``: its scheme, host and path prefix.

    Absolute links (revision-info's ``link``, the clone hints) and the Origin a form
    must come from then follow the configured URL, never a Host header a client chose.
    """

    def __init__(self, app: Any, public_url: str) -> None:
        self.app = app
        parts = urlsplit(public_url)
        self.scheme = parts.scheme
        self.host = parts.netloc.rpartition("@")[2]  # never user:password@ from the setting
        self.prefix = parts.path.rstrip("/")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Set the scheme and host (and the prefix, when the URL has one)."""
        environ["wsgi.url_scheme"] = self.scheme
        environ["HTTP_HOST"] = self.host
        if self.prefix:
            environ["SCRIPT_NAME"] = self.prefix
        return self.app(environ, start_response)
