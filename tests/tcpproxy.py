"""A TCP forwarder on 127.0.0.1 that a test can cut and restore, to fake a network outage."""

from __future__ import annotations

import selectors
import socket
import threading
from dataclasses import dataclass, field

# Bytes moved per read: small protocol messages, so any size works.
FORWARD_CHUNK_BYTES = 64 * 1024
# How often the forwarding threads look at the stop flag.
POLL_SECONDS = 0.2


@dataclass
class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()`` drops every connection and new ones."""

    target: tuple[str, int]
    port: int = 0
    _listener: socket.socket | None = field(default=None, repr=False)
    _open: set[socket.socket] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _down: bool = False
    _stopped: bool = False

    def start(self) -> TcpProxy:
        """Listen on a free port and forward in background threads."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_SECONDS)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut(self) -> None:
        """Close every forwarded connection; accept new ones only to close them at once."""
        with self._lock:
            self._down = True
            doomed, self._open = self._open, set()
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        """Forward new connections again."""
        with self._lock:
            self._down = False

    def stop(self) -> None:
        """Stop listening and drop everything."""
        self._stopped = True
        self.cut()
        if self._listener is not None:
            _close(self._listener)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = None if self._down else socket.create_connection(self.target, timeout=5)
        except OSError:
            upstream = None
        with self._lock:
            if upstream is None or self._down:
                _close(client)
                if upstream is not None:
                    _close(upstream)
                return
            self._open.update((client, upstream))
        _pump(client, upstream)


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes (or the proxy closes both)."""
    peer = {a: b, b: a}
    with selectors.DefaultSelector() as selector:
        for sock in (a, b):
            sock.settimeout(None)  # blocking sends; reads only when select says ready
            selector.register(sock, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in selector.select(POLL_SECONDS):
                    data = key.fileobj.recv(FORWARD_CHUNK_BYTES)
                    if not data:
                        return
                    peer[key.fileobj].sendall(data)
                if a.fileno() < 0 or b.fileno() < 0:
                    return
        except (OSError, ValueError):
            return
        finally:
            _close(a)
            _close(b)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
