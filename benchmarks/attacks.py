"""The hostile requests of ``bench_hostile.py``: each sends one attack and says how it ended.

Smart bodies are built with Breezy's own client-side encoder (tests/smartwire.py). Every
attack is bounded by ``Target.timeout_seconds`` (``TimeoutError`` past it) and talks to
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import collections
import http.client
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from smartwire import request_v3  # noqa: E402

MEDIUM_TRUNK = Path("/tmp/bench-repos/medium/repo/trunk")
SEND_PIECE_BYTES = 1024 * 1024
READ_PIECE_BYTES = 256 * 1024
ABANDON_AFTER_BYTES = 64 * 1024  # an abandoned diff reads this much, then hangs up
BRUTE_CLIENTS = 8  # issue 9: 8 clients sending random passwords
BRUTE_SECONDS = 10.0
STALL_MARGIN_SECONDS = 5.0  # how long past the idle time stalled sockets are watched
ADMIN, PASSWORD = "admin", "secret"


@dataclass
class Target:
    """Where an attack goes, and its bounds."""

    port: int
    smart_path: str
    bzrstore: bool
    workers: int
    args: argparse.Namespace
    timeout_seconds: float

    def deadline(self) -> float:
        return time.monotonic() + self.timeout_seconds


def tip() -> bytes:
    """The medium trunk's tip revision id."""
    return (MEDIUM_TRUNK / ".bzr" / "branch" / "last-revision").read_bytes().split()[1]


def exchange(target: Target, method: str, path: str, body: bytes = b"", chunked: bool = False,
             headers: dict[str, str] | None = None, keep_bytes: int | None = None) -> str:
    """Send one request (streaming the body); read the reply within the deadline; describe it."""
    deadline = target.deadline()
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=target.timeout_seconds)
    try:
        conn.putrequest(method, path)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body or method == "POST":
            conn.putheader(*(("Transfer-Encoding", "chunked") if chunked
                             else ("Content-Length", str(len(body)))))
        conn.endheaders()
        try:
            for start in range(0, len(body), SEND_PIECE_BYTES):
                piece = body[start:start + SEND_PIECE_BYTES]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                if time.monotonic() > deadline:
                    raise TimeoutError
            if chunked:
                conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early; read what it said
        response = conn.getresponse()
        size, head = 0, b""
        while piece := response.read(READ_PIECE_BYTES):
            head = head or piece[:300]
            size += len(piece)
            if keep_bytes is not None and size >= keep_bytes:
                return f"{response.status} abandoned"
            if time.monotonic() > deadline:
                raise TimeoutError
        kind = " smart error" if b"error" in head or b"Error" in head else ""
        return f"{response.status}{kind} {size / 2**20:.1f} MiB"
    finally:
        conn.close()


def smart(target: Target, body: bytes, chunked: bool = False) -> str:
    """POST a smart request to the medium repository."""
    return exchange(target, "POST", target.smart_path, body, chunked)


def readv_offsets(target: Target) -> str:
    """Chunked v3 readv whose body is MiBs of "0,1" offsets (stock cannot parse chunked)."""
    count = target.args.readv_mib * 2**20 // 4
    body = request_v3(b"readv", b"trunk/.bzr/branch/format", body=b"0,1\n" * count)
    return smart(target, body, chunked=target.bzrstore)


def no_newline(target: Target) -> str:
    """A smart body with no newline: the request line is never found."""
    return smart(target, b"x" * (target.args.newline_mib * 2**20))


def get_bundle(target: Target) -> str:
    """A bundle of the tip's whole history, built in memory (the path names the repository)."""
    return smart(target, request_v3(b"get_bundle", b"", tip()))


def tarball(target: Target) -> str:
    """A copy of the whole repository in the server's temporary directory, then a tarball."""
    return smart(target, request_v3(b"Repository.tarball", b"", b"gz"))


def parent_map_huge(target: Target) -> str:
    """get_parent_map whose search recipe starts from 20 MiB of unknown revision ids."""
    ids = b" ".join(b"fake-%020d" % n for n in range(20 * 2**20 // 26))
    body = request_v3(b"Repository.get_parent_map", b"", tip(), body=ids + b"\n\n1")
    return smart(target, body)


def gather_stats(target: Target) -> str:
    """gather_stats with committers: a walk over every revision."""
    return smart(target, request_v3(b"Repository.gather_stats", b"", tip(), b"yes"))


def revision_archive(target: Target) -> str:
    """A .tgz of the tip's whole tree (47 MB of files)."""
    return smart(target, request_v3(b"Repository.revision_archive", b"", tip(), b"tgz",
                                    b"x.tgz", b"x"))


def _diff_path(target: Target) -> str:
    old, new = target.args.bigdiff_revs
    return f"/bigdiff/diff?old={old}&new={new}"


def big_diff(target: Target) -> str:
    """A diff of one 6 MB file of 3 M short lines."""
    return exchange(target, "GET", _diff_path(target))


def abandoned_diff(target: Target) -> str:
    """The same diff, hung up on after its first 64 KiB."""
    return exchange(target, "GET", _diff_path(target), keep_bytes=ABANDON_AFTER_BYTES)


def _tree_diff_path() -> str:
    return f"/repo/diff?old=null:&new={tip().decode()}"


def whole_tree_diff(target: Target) -> str:
    """The medium trunk's whole tree from nothing (47 MB of text): the time limit ends it."""
    return exchange(target, "GET", _tree_diff_path())


def abandoned_tree_diff(target: Target) -> str:
    """The same, hung up on after its first 64 KiB: the work must stop with it."""
    return exchange(target, "GET", _tree_diff_path(), keep_bytes=ABANDON_AFTER_BYTES)


def stalled_sockets(target: Target) -> str:
    """As many sockets as workers, each sending nothing; when does the server let go?"""
    socks = [socket.create_connection(("127.0.0.1", target.port))
             for _ in range(target.workers)]
    watch = target.args.idle + STALL_MARGIN_SECONDS
    started, ended = time.monotonic(), []
    for sock in socks:
        sock.settimeout(max(0.1, started + watch - time.monotonic()))
        try:
            reply = sock.recv(64)
            code = reply[9:12].decode() or "closed"
            ended.append(f"{code} after {time.monotonic() - started:.0f} s")
        except TimeoutError:
            ended.append(f"held {watch:.0f} s")
        sock.close()
    return ", ".join(sorted(set(ended)))


def admin_brute_force(target: Target) -> str:
    """8 clients sending random passwords to /admin/ for 10 s."""
    statuses: collections.Counter[int] = collections.Counter()
    stop_at = time.monotonic() + BRUTE_SECONDS

    def client() -> None:
        while time.monotonic() < stop_at:
            token = base64.b64encode(f"{ADMIN}:{os.urandom(6).hex()}".encode()).decode()
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
            try:
                conn.request("GET", "/admin/", headers={"Authorization": f"Basic {token}"})
                statuses[conn.getresponse().status] += 1
            except OSError:
                statuses[0] += 1
            finally:
                conn.close()
            time.sleep(random.uniform(0, 0.05))

    threads = [threading.Thread(target=client) for _ in range(BRUTE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return " ".join(f"{status}x{n}" for status, n in sorted(statuses.items()))


# name -> (attack, bzrstore only)
ATTACKS: dict[str, tuple[Callable[[Target], str], bool]] = {
    "readv-offsets": (readv_offsets, False),
    "no-newline": (no_newline, False),
    "get_bundle": (get_bundle, False),
    "Repository.tarball": (tarball, False),
    "get_parent_map-huge": (parent_map_huge, False),
    "gather_stats": (gather_stats, False),
    "revision_archive": (revision_archive, False),
    "diff-big-file": (big_diff, True),
    "diff-abandoned": (abandoned_diff, True),
    "diff-whole-tree": (whole_tree_diff, True),
    "diff-whole-tree-abandoned": (abandoned_tree_diff, True),
    "stalled-sockets": (stalled_sockets, False),
    "admin-brute-force": (admin_brute_force, True),
}
