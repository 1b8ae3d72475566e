"""gunicorn workers that drop a client which stalls mid-request (``BZRSTORE_CLIENT_IDLE_SECONDS``).

A stock sync worker blocks on a client's socket without a timeout: a few clients that
connect and send nothing, or stop in the middle of a body, or stop reading a clone,
hold every worker until they close, and ``/health`` goes unanswered. Here each
accepted socket gets the idle time as its timeout, per wait and not per call (a
slow client that keeps moving is never cut):

- a read that waits longer raises :class:`ClientStalled`, a 408. Before the app
  runs, the worker answers it; inside the app, Flask's and the smart dispatcher's
  error handlers render it like any other HTTP error. It is not an ``OSError``
  on purpose: werkzeug would turn that into a 400 "client disconnected";
- a write that waits longer raises ``BrokenPipeError``, which gunicorn treats as a
  client gone (nothing can be said to a client that does not read).

Either way the stall is logged in one line. Each socket also records whether the trusted
internal listener accepted it (node/listeners.py). Choose the class in gunicorn.conf.py:
:class:`IdleLimitedSync`, or :class:`IdleLimitedThreads` when ``GUNICORN_THREADS`` > 1.
(Neither name ends in "SyncWorker", which gunicorn would swap for its own gthread.)
"""

from __future__ import annotations

import errno
import socket
import threading
import time
import weakref
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker
from gunicorn.workers.sync import SyncWorker
from werkzeug.exceptions import RequestTimeout

from bzrstore.config import load_settings
from bzrstore.node.listeners import ListenerMarker, internal_listener_names
from bzrstore.node.liveness import STILL_SECONDS, ThreadProgress


class ClientStalled(RequestTimeout):
    """The client sent nothing for the idle time while the server waited for its request."""


class IdleSocket(socket.socket):
    """A client socket whose every blocking wait ends after ``idle_seconds``.

    Once a direction has stalled, it fails at once: what still tries to use it (an
    error reply Breezy writes after a failed write) must not wait a second time.
    """

    idle_seconds: float
    internal: bool  # accepted on BZRSTORE_INTERNAL_BIND's listener
    log: Any
    peer: str
    sent: int
    stalled_sending: bool  # the client stopped sending its request
    stalled_reading: bool  # the client stopped reading our reply

    @classmethod
    def adopt(cls, client: socket.socket, idle_seconds: float, log: Any,
              internal: bool = False) -> IdleSocket:
        """Take over ``client``'s connection (the old object is left detached)."""
        sock = cls(client.family, client.type, client.proto, fileno=client.detach())
        sock.idle_seconds, sock.log, sock.sent = idle_seconds, log, 0
        sock.internal = internal
        sock.stalled_sending = sock.stalled_reading = False
        try:
            sock.peer = str(sock.getpeername()[0])
        except (OSError, IndexError, TypeError):
            sock.peer = "?"
        sock.settimeout(idle_seconds)
        return sock

    @property
    def stalled(self) -> bool:
        """True once the client stalled either way: the connection carries no other request."""
        return self.stalled_sending or self.stalled_reading

    def setblocking(self, flag: bool) -> None:
        """Blocking means "with the idle timeout" (gthread toggles it per request)."""
        self.settimeout(self.idle_seconds if flag else 0.0)

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self.stalled_sending:
            raise ClientStalled("client stalled")
        try:
            return super().recv(size, flags)
        except TimeoutError:
            raise self._stall_sending() from None

    def recv_into(self, buffer: Any, size: int = 0, flags: int = 0) -> int:
        if self.stalled_sending:
            raise ClientStalled("client stalled")
        try:
            return super().recv_into(buffer, size, flags)
        except TimeoutError:
            raise self._stall_sending() from None

    def send(self, data: Any, flags: int = 0) -> int:
        if self.stalled_reading:
            raise BrokenPipeError(errno.EPIPE, "client stopped reading")
        try:
            sent = super().send(data, flags)
        except TimeoutError:
            raise self._stall_reading() from None
        self.sent += sent
        return sent

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send in as many calls as it takes, so the timeout bounds each wait, not the whole."""
        view = memoryview(data).cast("B")
        while view:
            view = view[self.send(view, flags):]

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        if self.stalled_reading:
            raise BrokenPipeError(errno.EPIPE, "client stopped reading")
        try:
            return super().sendfile(file, offset, count)
        except TimeoutError:
            raise self._stall_reading() from None

    def _stall_sending(self) -> ClientStalled:
        self.stalled_sending = True
        self.log.warning("client %s sent nothing for %g s: dropped", self.peer, self.idle_seconds)
        return ClientStalled(f"no request byte for {self.idle_seconds:g} s")

    def _stall_reading(self) -> BrokenPipeError:
        self.stalled_reading = True
        self.log.warning("client %s read nothing for %g s: dropped", self.peer, self.idle_seconds)
        return BrokenPipeError(errno.EPIPE, "client stopped reading")


class _IdleLimit:
    """Mixin: the idle time and internal listener read at boot; a stall before the app: 408."""

    idle_seconds: float
    internal_names: set[Any]  # socket names of the internal listener(s)
    log: Any
    sockets: list[Any]

    def init_process(self) -> None:
        settings = load_settings()
        self.idle_seconds = settings.client_idle_seconds
        self.internal_names = internal_listener_names(
            self.sockets, settings.internal_bind, util.parse_address)
        if settings.internal_bind and not self.internal_names:
            self.log.error("no listener for BZRSTORE_INTERNAL_BIND %s: every request is public",
                           settings.internal_bind)
        super().init_process()  # type: ignore[misc]  # runs the worker's loop

    def load_wsgi(self) -> None:
        super().load_wsgi()  # type: ignore[misc]
        self.wsgi = ListenerMarker(self.wsgi)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if not isinstance(exc, ClientStalled):
            super().handle_error(req, client, addr, exc)  # type: ignore[misc]
            return
        if getattr(client, "sent", 1) == 0:
            try:
                util.write_error(client, 408, "Request Timeout", exc.description or "")
            except OSError:
                pass  # the client is gone as well


class IdleLimitedSync(_IdleLimit, SyncWorker):
    """gunicorn's sync worker with the client idle time on every accepted socket."""

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        internal = listener.getsockname() in self.internal_names
        super().handle(listener, IdleSocket.adopt(client, self.idle_seconds, self.log, internal),
                       addr)


class IdleLimitedThreads(_IdleLimit, ThreadWorker):
    """gunicorn's gthread worker with the client idle time on every accepted socket.

    A connection that sends nothing waits in the poller, not in a thread, but still
    counts against worker_connections: it is closed once idle too.
    """

    def init_process(self) -> None:
        self.first_seen: weakref.WeakKeyDictionary[TConn, float] = weakref.WeakKeyDictionary()
        self.progress = ThreadProgress()
        super().init_process()

    @property
    def alive(self) -> bool:
        """While stopping, true until every connection already accepted has its thread.

        gthread ends its loop and closes its poller at once, dropping connections it
        accepted but had not read from yet: in a reload, brz's next request of a push
        had just connected, and the push failed. So accept no more, but keep looping
        until those are handed over (or closed as idle, murder_keepalived below).
        """
        # Request threads ask too (to close their connection): for them it is plain.
        if self._alive or threading.current_thread() is not threading.main_thread():
            return self._alive
        with self._lock:
            if self.poller is None or self.poller.get_map() is None:
                return False  # not started, or already closed
            for key in list(self.poller.get_map().values()):
                if key.fileobj in self.sockets:
                    self.poller.unregister(key.fileobj)
            return any(isinstance(getattr(key.data, "args", (None,))[0], TConn)
                       for key in self.poller.get_map().values())

    @alive.setter
    def alive(self, value: bool) -> None:
        self._alive = value

    def notify(self) -> None:
        """Tell the arbiter we are alive, unless a request has been still too long."""
        progress = getattr(self, "progress", None)
        if progress is None or progress.still_for() < STILL_SECONDS:
            super().notify()

    def enqueue_req(self, conn: Any) -> None:
        # Before the first request's parser is built on conn.sock (conn.init()).
        if not isinstance(conn.sock, IdleSocket):
            conn.sock = IdleSocket.adopt(conn.sock, self.idle_seconds, self.log,
                                         conn.server in self.internal_names)
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> bool:
        # Part of a stalled request may still be unread: the connection cannot carry another.
        self.progress.begin()
        try:
            keepalive = super().handle_request(req, conn)
        finally:
            self.progress.end()
        return keepalive and not conn.sock.stalled

    def murder_keepalived(self) -> None:
        """Also close accepted connections that sent nothing for the idle time."""
        super().murder_keepalived()
        now = time.monotonic()
        with self._lock:
            for key in list(self.poller.get_map().values()):
                conn = getattr(key.data, "args", (None,))[0]
                if not isinstance(conn, TConn) or conn.initialized:
                    continue  # a listener, or a kept-alive connection (gunicorn's keepalive)
                if now - self.first_seen.setdefault(conn, now) > self.idle_seconds:
                    self.poller.unregister(key.fileobj)
                    self.nr_conns -= 1
                    conn.close()
                    self.log.warning("client %s sent nothing for %g s: dropped",
                                     conn.client[0] if conn.client else "?", self.idle_seconds)
