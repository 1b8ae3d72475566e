"""POST …/.bzr/smart: names, registry, auth and limits decided here, then the mounted app."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from breezy import urlutils
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)

from bzrstore.auth import Authenticator, parse_basic_auth
from bzrstore.errors import render_error, unauthorized
from bzrstore.metrics import Metrics
from bzrstore.registry import Registry, RegistryUnavailable
from bzrstore.repos.names import InvalidName, split_branch_path
from bzrstore.repos.storage import Storage
from bzrstore.smart.app import SmartAppCache, StartResponse
from bzrstore.smart.body import RequestBody
from bzrstore.smart.pushlog import PushContext, pushing
from bzrstore.smart.verb_limits import MAX_BUFFERED_BODY_BYTES, buffers_body
from bzrstore.smart.verbs import is_read_only

log = logging.getLogger(__name__)

SMART_SUFFIX = "/.bzr/smart"
URL_PREFIX = "/bzr/"
# Escapes that would smuggle a separator past PATH_INFO's decoding.
FORBIDDEN_ESCAPES = ("%2f", "%5c", "%00")
# Bound on the per-process memory of codebases recently found registered.
MAX_CACHED_CODEBASES = 10_000
# Verbs that create a branch directory: its parents are made for the writer, so a
# push to <cb>/<campaign>/<role> needs no --create-prefix.
CREATING_VERBS = frozenset(
    {b"mkdir", b"BzrDirFormat.initialize", b"BzrDirFormat.initialize_ex_1.16"}
)


@dataclass(frozen=True)
class SmartTarget:
    """A checked smart URL: the codebase and the path segments below it."""

    codebase: str
    segments: tuple[str, ...]

    @property
    def relpath(self) -> str:
        """URL-escaped path below the codebase, as Breezy's transports take it."""
        return urlutils.escape("/".join(self.segments))  # "/" stays: segments hold none


def parse_smart_path(environ: dict[str, Any]) -> SmartTarget:
    """Check every segment of a smart URL before anything touches the disk."""
    raw_uri = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").lower()
    if any(escape in raw_uri for escape in FORBIDDEN_ESCAPES):
        raise InvalidName("encoded separators are not allowed in paths")
    path = environ.get("PATH_INFO", "")[: -len(SMART_SUFFIX)]
    path = path[len(URL_PREFIX) :] if path.startswith(URL_PREFIX) else path[1:]
    try:
        # WSGI hands PATH_INFO over as latin-1; the URL itself is UTF-8.
        path = path.encode("latin-1").decode("utf-8")
    except UnicodeError as exc:
        raise InvalidName("path is not UTF-8") from exc
    codebase, segments = split_branch_path(path)
    return SmartTarget(codebase, segments)


class SmartDispatcher:
    """Routes smart requests to per-codebase apps; everything else to ``fallback``."""

    def __init__(self, fallback: Any, registry: Registry, storage: Storage,
                 authenticator: Authenticator, apps: SmartAppCache, commands: Any,
                 max_body_bytes: int, campaigns: tuple[str, ...] = (),
                 codebase_cache_seconds: float = 0.0, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 anonymous_body_bytes: int | None = None) -> None:
        self.fallback = fallback
        self.registry = registry
        self.storage = storage
        self.authenticator = authenticator
        self.apps = apps
        self.commands = commands
        self.known_verbs = frozenset(commands.keys())
        self.max_body_bytes = max_body_bytes
        self.anonymous_body_bytes = min(anonymous_body_bytes or max_body_bytes, max_body_bytes)
        self.campaigns = frozenset(campaigns)
        self.codebase_cache_seconds = codebase_cache_seconds
        self.metrics = metrics
        self.clock = clock
        # Codebase -> until when it is known registered with its repository on disk.
        self._ready_until: dict[str, float] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").endswith(SMART_SUFFIX):
            return self.fallback(environ, start_response)
        environ["bzrstore.route"] = "smart"
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
        try:
            target = parse_smart_path(environ)
        except InvalidName as exc:
            raise BadRequest(str(exc)) from exc
        if environ.get("REQUEST_METHOD") != "POST":
            raise MethodNotAllowed(["POST"], "smart requests must be POSTed")
        if self.campaigns and target.segments and target.segments[0] not in self.campaigns:
            raise Forbidden(f"campaign {target.segments[0]!r} is not allowed here")
        known = self._ready_until.get(target.codebase, 0.0) > self.clock()
        if not known:
            self._check_registered(target.codebase)
        body = RequestBody(environ, self.max_body_bytes,
                           self.metrics.smart_bytes_in.inc if self.metrics else None)
        verb = body.read_head()
        worker = self._authorize(environ, verb)
        if worker is None:
            body.limit(self.anonymous_body_bytes)
        if buffers_body(verb, self.commands):
            body.limit(MAX_BUFFERED_BODY_BYTES)
        if self.metrics is not None:
            label = verb.decode() if verb in self.known_verbs else "unknown"
            self.metrics.count_smart(label, worker is not None)
        environ["wsgi.input"] = body
        environ["breezy.relpath"] = target.relpath
        environ["bzrstore.verb"] = verb
        if not known:
            self._remember_ready(target.codebase)
        if worker is None:
            return self.apps.get(target.codebase, False)(environ, start_response)
        if verb in CREATING_VERBS:
            self.storage.ensure_parents(target.codebase, target.segments)
        app = self.apps.get(target.codebase, True)
        with pushing(PushContext(self.registry, target.codebase, app.backing_transport.base,
                                 worker, self.metrics)):
            return app(environ, start_response)

    def _remember_ready(self, codebase: str) -> None:
        """Make the repository on first use; skip both checks for a while after."""
        try:
            self.storage.ensure_repository(codebase)
        except OSError as exc:  # a full or read-only disk: the storage, not the request
            log.error("cannot create the repository of %s: %s", codebase, exc)
            raise ServiceUnavailable("storage unavailable") from exc
        if len(self._ready_until) >= MAX_CACHED_CODEBASES:
            self._ready_until.clear()
        self._ready_until[codebase] = self.clock() + self.codebase_cache_seconds

    def _check_registered(self, codebase: str) -> None:
        try:
            registered = self.registry.codebase_exists(codebase)
        except RegistryUnavailable as exc:
            log.error("registry unavailable: %s", exc)
            raise ServiceUnavailable("registry unavailable") from exc
        if not registered:
            raise NotFound(f"no such codebase: {codebase}")

    def _authorize(self, environ: dict[str, Any], verb: bytes | None) -> str | None:
        """The worker writing, or None for a read-only request; 401 for a write without one."""
        credentials = parse_basic_auth(environ)
        if credentials is None:
            if not is_read_only(verb, self.commands):
                raise unauthorized("this request writes: credentials required")
            return None
        try:
            ok = self.authenticator.authenticate(*credentials, environ.get("REMOTE_ADDR", ""))
        except RegistryUnavailable as exc:
            raise ServiceUnavailable("registry unavailable") from exc
        if not ok:
            raise unauthorized("invalid credentials")
        return credentials[0]

