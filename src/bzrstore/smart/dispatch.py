"""POST …/.bzr/smart: path, names, registry, auth and limits decided here, then the mounted app.

The smart onion, outermost first, built by ``make_smart_dispatcher``: ``SmartDispatcher``
(this policy; anything else goes to the fallback, the Flask app) -> ``RequestBody`` put
into ``wsgi.input`` (smart/body.py: the head read for the verb, the size limited once)
-> the verb judged (smart/verbs.py) -> the codebase's ``StreamingSmartApp``
(smart/app.py: Breezy's protocol, streaming both ways).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from breezy import urlutils
from breezy.registry import Registry
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)

from bzrstore.errors import render_error
from bzrstore.metrics import ROUTE_KEY
from bzrstore.node.listeners import INTERNAL_WRITER, is_internal
from bzrstore.registry import RegistryUnavailable
from bzrstore.repos.names import InvalidName, split_branch_path
from bzrstore.smart.app import StartResponse, StreamingSmartApp, make_smart_app
from bzrstore.smart.body import RequestBody
from bzrstore.smart.diskfull import install_disk_full_errors
from bzrstore.smart.pushlog import PushContext, install_hook, pushing
from bzrstore.smart.verbs import (
    MAX_BUFFERED_BODY_BYTES,
    buffers_body,
    build_command_registry,
    is_read_only,
)
from bzrstore.store import Store

log = logging.getLogger(__name__)

SMART_SUFFIX = "/.bzr/smart"
URL_PREFIX = "/bzr/"
# Escapes that would smuggle a separator past PATH_INFO's decoding.
FORBIDDEN_ESCAPES = ("%2f", "%5c", "%00")
# Bound on the per-process memory of codebases recently found registered.
MAX_CACHED_CODEBASES = 10_000
# Bound on the checked smart URLs a dispatcher keeps (each well under 1 KB).
MAX_CACHED_SMART_URLS = 4096
# Verbs that create a branch directory: its parents are made for the writer, so a
# push to <cb>/<campaign>/<role> needs no --create-prefix.
CREATING_VERBS = frozenset(
    {b"mkdir", b"BzrDirFormat.initialize", b"BzrDirFormat.initialize_ex_1.16"}
)
WRITE_NEEDS_CREDENTIALS = "this request writes: credentials required"


@dataclass(frozen=True)
class SmartTarget:
    """A checked smart URL: the codebase, the path segments below it, and as Breezy has it."""

    codebase: str
    segments: tuple[str, ...]
    relpath: str  # URL-escaped path below the codebase, as Breezy's transports take it


def parse_smart_url(path_info: str, raw_uri: str) -> SmartTarget:
    """Check every segment of a smart URL before anything touches the disk.

    ``path_info`` is WSGI's ``PATH_INFO``; ``raw_uri`` the request URI as sent, where
    an encoded separator still shows.
    """
    if any(escape in raw_uri.lower() for escape in FORBIDDEN_ESCAPES):
        raise InvalidName("encoded separators are not allowed in paths")
    path = path_info[: -len(SMART_SUFFIX)]
    path = path[len(URL_PREFIX) :] if path.startswith(URL_PREFIX) else path[1:]
    try:
        # WSGI hands PATH_INFO over as latin-1; the URL itself is UTF-8.
        path = path.encode("latin-1").decode("utf-8")
    except UnicodeError as exc:
        raise InvalidName("path is not UTF-8") from exc
    codebase, segments = split_branch_path(path)
    # "/" stays unescaped: segments hold none.
    return SmartTarget(codebase, segments, urlutils.escape("/".join(segments)))


class SmartAppCache:
    """Mounted apps per (codebase, writable), least recently used dropped past a bound.

    Each app registers a process-global chroot scheme, so apps are built once
    and kept, never built per request.
    """

    def __init__(self, factory: Callable[[str, bool], StreamingSmartApp], size: int) -> None:
        self._factory = factory
        self._size = size
        self._apps: OrderedDict[tuple[str, bool], StreamingSmartApp] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, codebase: str, writable: bool) -> StreamingSmartApp:
        """The app for ``codebase``, built on first use."""
        key = (codebase, writable)
        with self._lock:
            app = self._apps.get(key)
            if app is not None:
                self._apps.move_to_end(key)
                return app
            app = self._apps[key] = self._factory(codebase, writable)
            if len(self._apps) > self._size:
                _, dropped = self._apps.popitem(last=False)
                dropped.close()
            return app

    def __len__(self) -> int:
        return len(self._apps)

    def close(self) -> None:
        """Close every mounted app."""
        with self._lock:
            for app in self._apps.values():
                app.close()
            self._apps.clear()


class SmartDispatcher:
    """Routes smart requests to per-codebase apps; everything else to ``fallback``."""

    def __init__(self, store: Store, fallback: Any, apps: SmartAppCache, commands: Registry,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.fallback = fallback
        self.apps = apps
        self.known_verbs = frozenset(commands.keys())
        # The registry is fixed once built: each verb's kind is looked up once, here.
        self.write_verbs = frozenset(v for v in self.known_verbs if not is_read_only(v, commands))
        self.streaming_verbs = frozenset(
            v for v in self.known_verbs if not buffers_body(v, commands))
        self.campaigns = frozenset(store.settings.campaigns)
        self.codebase_cache_seconds = store.settings.codebase_cache_seconds
        self.clock = clock
        # A client repeats its few URLs on every request of a command: each is checked
        # once (a bad one is never cached: it raises each time).
        self._parse = functools.lru_cache(maxsize=MAX_CACHED_SMART_URLS)(parse_smart_url)
        # Codebase -> until when it is known registered with its repository on disk.
        self._ready_until: dict[str, float] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").endswith(SMART_SUFFIX):
            return self.fallback(environ, start_response)
        environ[ROUTE_KEY] = "smart"
        try:
            return self._serve(environ, start_response)
        except HTTPException as exc:
            return render_error(exc, environ)(environ, start_response)
        except Exception:
            # The smart app answers Breezy's errors itself; what reaches here is ours.
            log.exception("smart request failed on %s", environ.get("PATH_INFO"))
            error = InternalServerError("internal error")
            return render_error(error, environ)(environ, start_response)

    def _serve(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = self._target(environ)
        known = self._ready_until.get(target.codebase, 0.0) > self.clock()
        if not known:
            self._check_registered(target.codebase)
        settings, metrics = self.store.settings, self.store.metrics
        body = RequestBody(environ, settings.max_body_bytes, metrics.smart_bytes_in.inc)
        verb = body.read_head()
        worker = self._authorize(environ, verb)
        if worker is None:
            body.limit(settings.anonymous_body_bytes)
        if verb not in self.streaming_verbs:
            body.limit(MAX_BUFFERED_BODY_BYTES)
        metrics.count_smart(verb.decode() if verb in self.known_verbs else "unknown",
                            worker is not None)
        environ["wsgi.input"] = body
        environ["breezy.relpath"] = target.relpath
        if not known:
            self._remember_ready(target.codebase)
        if worker is None:
            return self.apps.get(target.codebase, False)(environ, start_response)
        if verb in CREATING_VERBS:
            self.store.storage.ensure_parents(target.codebase, target.segments)
        app = self.apps.get(target.codebase, True)
        # The app runs the whole exchange inside this call (it returns a list, never a
        # generator), so every tip change it makes happens while the context is set.
        with pushing(PushContext(self.store.registry, target.codebase,
                                 app.backing_transport.base, worker, metrics)):
            return app(environ, start_response)

    def _target(self, environ: dict[str, Any]) -> SmartTarget:
        """The checked URL of a POST to an allowed campaign: 400, 405 or 403 otherwise."""
        try:
            target = self._parse(environ.get("PATH_INFO", ""),
                                 environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
        except InvalidName as exc:
            raise BadRequest(str(exc)) from exc
        if environ.get("REQUEST_METHOD") != "POST":
            raise MethodNotAllowed(["POST"], "smart requests must be POSTed")
        if self.campaigns and target.segments and target.segments[0] not in self.campaigns:
            raise Forbidden(f"campaign {target.segments[0]!r} is not allowed here")
        return target

    def _check_registered(self, codebase: str) -> None:
        try:
            registered = self.store.registry.codebase_exists(codebase)
        except RegistryUnavailable as exc:
            log.error("registry unavailable: %s", exc)
            raise ServiceUnavailable("registry unavailable") from exc
        if not registered:
            raise NotFound(f"no such codebase: {codebase}")

    def _remember_ready(self, codebase: str) -> None:
        """Make the repository on first use; skip both checks for a while after."""
        try:
            self.store.storage.ensure_repository(codebase)
        except OSError as exc:  # a full or read-only disk: the storage, not the request
            log.error("cannot create the repository of %s: %s", codebase, exc)
            raise ServiceUnavailable("storage unavailable") from exc
        if len(self._ready_until) >= MAX_CACHED_CODEBASES:
            self._ready_until.clear()
        self._ready_until[codebase] = self.clock() + self.codebase_cache_seconds

    def _authorize(self, environ: dict[str, Any], verb: bytes | None) -> str | None:
        """The worker, INTERNAL_WRITER (internal listener) or None (anonymous read); else 401."""
        try:
            if self.store.settings.internal_bind and is_internal(environ):  # opt-in
                return self.store.identify(environ) or INTERNAL_WRITER
            if verb not in self.write_verbs:
                return self.store.identify(environ)
            return self.store.require_worker(environ, WRITE_NEEDS_CREDENTIALS)
        except RegistryUnavailable as exc:
            raise ServiceUnavailable("registry unavailable") from exc


def make_smart_dispatcher(store: Store, fallback: Any) -> SmartDispatcher:
    """The smart path in front of ``fallback``, like dulwich's ``make_wsgi_chain``.

    Installs Breezy's process-wide hooks (push log, full disk) once, builds the
    bounded verb registry and the cache of one mounted app per (codebase, writable).
    """
    install_hook()
    install_disk_full_errors()
    commands = build_command_registry()

    def mount(codebase: str, writable: bool) -> StreamingSmartApp:
        return make_smart_app(store.storage.codebase_dir(codebase), writable, commands)

    apps = SmartAppCache(mount, store.settings.smart_app_cache_size)
    return SmartDispatcher(store, fallback, apps, commands)
