"""X-Forwarded-* headers, believed only when they come from a configured proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

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
