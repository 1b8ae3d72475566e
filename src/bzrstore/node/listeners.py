"""Which listener accepted a request: the public one, or the trusted internal one.

An operator may open a second listener, ``BZRSTORE_INTERNAL_BIND`` (Janitor's port
9929: reachable only inside the cluster). Requests it accepts may write without
credentials. That is decided from the accepted socket and nothing else:

- gunicorn.conf.py adds the internal address to gunicorn's binds (``add_internal_bind``);
- each worker (node/workers.py) knows which listener accepted a connection and sets
  ``IdleSocket.internal`` on the client socket;
- ``ListenerMarker``, the worker's outermost WSGI layer, writes ``LISTENER_KEY`` into
  every environ from that socket, overwriting whatever was there. A client cannot
  reach it: headers arrive as ``HTTP_*`` keys, and no header, Host, path or
  ``X-Forwarded-*`` (web/proxies.py rewrites only the standard keys) is consulted.

Any other server (werkzeug's dev server, a test client) sets no marker: public.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# The environ key, set by the server only: "internal" or "public".
LISTENER_KEY = "bzrstore.listener"
INTERNAL = "internal"
PUBLIC = "public"
# The writer the push log and admin page record for a request without credentials on
# the internal listener (credentials sent there are still checked and name the worker).
# Worker names cannot hold parentheses, so it names no worker.
INTERNAL_WRITER = "(internal)"


def is_internal(environ: dict[str, Any]) -> bool:
    """True only when our gunicorn worker accepted the request on the internal listener."""
    return environ.get(LISTENER_KEY) == INTERNAL


class ListenerMarker:
    """WSGI layer: ``LISTENER_KEY`` from the accepted socket (gunicorn's ``gunicorn.socket``)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        environ[LISTENER_KEY] = INTERNAL if getattr(sock, "internal", False) is True else PUBLIC
        return self.app(environ, start_response)


def add_internal_bind(cfg: Any, internal_bind: str) -> None:
    """Make gunicorn also listen on ``internal_bind`` (whatever ``--bind`` said)."""
    if not internal_bind:
        return
    if internal_bind in cfg.bind:  # one socket cannot be both: refuse, never trust it all
        raise ValueError(f"BZRSTORE_INTERNAL_BIND {internal_bind} is also a public bind")
    cfg.set("bind", [*cfg.bind, internal_bind])


def keep_internal_bind(server: Any, internal_bind: str) -> None:
    """Add the internal bind now and after every reload (``kill -HUP`` reads the config anew).

    gunicorn compares its binds before and after a reload and reopens listeners when
    they differ, so the internal one must be there again before that comparison.
    """
    add_internal_bind(server.cfg, internal_bind)
    load_config = server.app.load_config

    def load_config_with_internal() -> None:
        load_config()
        add_internal_bind(server.app.cfg, internal_bind)

    server.app.load_config = load_config_with_internal


def internal_listener_names(listeners: Iterable[Any], internal_bind: str,
                            parse_address: Callable[[str], Any]) -> set[Any]:
    """Socket names of the listeners opened for ``internal_bind``.

    A listener is matched by its configured address (``cfg_addr``) or, when gunicorn
    inherited it from a previous arbiter (``USR2``), by the address it is bound to.
    """
    if not internal_bind:
        return set()
    wanted = parse_address(internal_bind)
    return {listener.getsockname() for listener in listeners
            if getattr(listener, "cfg_addr", None) == wanted or listener.getsockname() == wanted}
