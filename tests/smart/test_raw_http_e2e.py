"""Smart requests in raw HTTP (no brz) against a real gunicorn serving bzrstore.

The jail, the 405, chunked bodies and bodies gunicorn cannot frame, on both registry
backends; the real brz client's tests are in test_brz_e2e.py.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from pathlib import Path

from helpers import post_status
from servers import Brz
from smartwire import request_v1, request_v3


def _raw_smart_get(url: str, path: bytes) -> bytes:
    """Send one protocol-1 ``get`` request and return the raw response body."""
    request = urllib.request.Request(url, data=request_v1(b"get", path), method="POST")
    with urllib.request.urlopen(request) as response:
        return response.read()


def test_smart_get_cannot_climb_out_of_the_codebase(store, brz: Brz, tmp_path: Path):
    secret = b"secret of another codebase\n"
    (store.repos / "beta").mkdir(exist_ok=True)
    (store.repos / "beta" / "secret.txt").write_bytes(secret)
    (store.data / "outside.txt").write_bytes(secret)
    # Make sure alpha's repository exists.
    _raw_smart_get(store.url + "/bzr/alpha/.bzr/smart", b".bzr/branch-format")
    (store.repos / "alpha" / "planted").symlink_to(store.data / "outside.txt")

    for smart_path in ("/bzr/alpha/.bzr/smart", "/bzr/alpha/x/.bzr/smart"):
        for client_path in (b"../beta/secret.txt", b"../../outside.txt",
                            b"../../../outside.txt", b"/../beta/secret.txt", b"planted",
                            b"../alpha/planted"):
            reply = _raw_smart_get(store.url + smart_path, client_path)
            assert secret not in reply, (smart_path, client_path, reply)
            assert str(store.data).encode() not in reply


def test_get_on_smart_url_is_405(store):
    try:
        urllib.request.urlopen(store.url + "/bzr/alpha/.bzr/smart")
    except urllib.error.HTTPError as exc:
        assert exc.code == 405
        assert exc.headers["Allow"] == "POST"
    else:
        raise AssertionError("GET on a smart URL succeeded")


def _raw_exchange(store, request: bytes) -> bytes:
    """Send raw bytes to the server, close our side, return everything it answers."""
    with socket.create_connection(("127.0.0.1", store.server.port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_chunked_request_body_through_gunicorn(store):
    connection = http.client.HTTPConnection("127.0.0.1", store.server.port, timeout=30)
    body = request_v3(b"hello")
    connection.request("POST", "/bzr/alpha/.bzr/smart", body=iter([body[:10], body[10:]]),
                       encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 200
    assert b"ok" in response.read()


def test_missing_length_and_truncated_bodies_get_a_protocol_error(store):
    head = b"POST /bzr/alpha/.bzr/smart HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    no_length = _raw_exchange(store, head + b"\r\n" + request_v3(b"hello"))
    assert no_length.startswith(b"HTTP/1.1 200")
    assert no_length.endswith(b"error\x01incomplete request\n")
    body = request_v3(b"get", b".bzr/branch-format")
    truncated = _raw_exchange(
        store, head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:-5])
    assert truncated.startswith(b"HTTP/1.1 200")
    assert truncated.endswith(b"error\x01incomplete request\n")
    # The worker is free again.
    assert post_status(store.url + "/bzr/alpha/.bzr/smart", request_v3(b"hello")) == 200
