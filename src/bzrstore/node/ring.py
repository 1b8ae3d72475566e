"""Which node nginx's ``hash $codebase consistent`` sends a codebase to.

The same ring as nginx's (``ngx_http_upstream_init_chash`` in
``ngx_http_upstream_hash_module.c``, compatible with Cache::Memcached::Fast): each
``server`` of the upstream, as its address is written there, gets 160 points (all
servers have weight 1 in ``deploy/nginx/bzrstore-cluster.conf``), the point hashes
chained as ``crc32(host "\\0" port previous-hash)``; a codebase goes to the first point
at or above ``crc32(codebase)``, round to the first point past the last. A test checks
this against a real nginx.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable

POINTS_PER_SERVER = 160


class Ring:
    """The consistent-hash ring of an upstream's servers (``HOST:PORT`` as written)."""

    def __init__(self, nodes: Iterable[str]) -> None:
        points: dict[int, str] = {}
        for node in nodes:
            host, port = _split(node)
            base = host + b"\0" + port
            previous = 0
            for _ in range(POINTS_PER_SERVER):
                previous = zlib.crc32(base + previous.to_bytes(4, "little"))
                points.setdefault(previous, node)  # nginx keeps one point per hash
        if not points:
            raise ValueError("a ring needs at least one node")
        self._hashes = sorted(points)
        self._nodes = [points[h] for h in self._hashes]

    def node_of(self, codebase: str) -> str:
        """The node whose repository directory holds ``codebase``."""
        index = bisect.bisect_left(self._hashes, zlib.crc32(codebase.encode()))
        return self._nodes[index % len(self._nodes)]


def _split(node: str) -> tuple[bytes, bytes]:
    """Host and port the way nginx splits a server address: at a last ':' before digits."""
    host, colon, port = node.rpartition(":")
    if colon and port.isdigit():
        return host.encode(), port.encode()
    return node.encode(), b""
