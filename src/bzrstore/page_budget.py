"""The per-client budget of expensive pages, shared by a node's workers.

Launchpad turned its code browser off because scrapers, not people, were its traffic.
A person reads a few annotations or deep history pages a minute; a scraper asks for
all of them. Each expensive page costs its kind's units (``COSTS``) against the
client's budget within a sliding window, counted in a SQLite file in the runtime
directory by ``login_limits.WindowCounts`` (the machinery of the login limits); over
budget the answer is 429 with ``Retry-After``, before any work is done.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from pathlib import Path

from werkzeug.exceptions import TooManyRequests

from bzrstore.login_limits import WindowCounts

FILE_NAME = "page-budget.sqlite3"
# Units per page kind. A page whose cost follows the history or a file's lines costs
# one (each under 0.3 s warm on the medium benchmark branch); a tarball reads and
# compresses the whole tree: 1.1 s for the medium tip (1,879 files, 47 MB).
COSTS: dict[str, int] = {
    "annotate": 1,
    "compare": 1,
    "changes": 1,
    "tarball": 5,
}
# IPv6 clients get a /64 each (SLAAC, privacy addresses): a budget per address would be
# one per request for a host that rotates its address.
IPV6_CLIENT_PREFIX = 64


class OverBudget(TooManyRequests):
    """429 with ``Retry-After``: this client spent its budget of expensive pages."""


def client_key(address: str) -> str:
    """Who a budget belongs to: the IPv4 address, or the IPv6 /64 it is in."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"other:{address[:100]}"  # a Unix socket peer, or nothing
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # a v4 client on a dual-stack socket
            return f"addr:{ip.ipv4_mapped}"
        return f"net:{ipaddress.ip_network((ip, IPV6_CLIENT_PREFIX), strict=False)}"
    return f"addr:{ip}"


class PageBudget:
    """At most ``units`` units of expensive pages per client within ``window_seconds``."""

    def __init__(self, run_dir: Path, units: int, window_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.counts = WindowCounts(run_dir / FILE_NAME, window_seconds, clock)
        self.units = units

    @property
    def enabled(self) -> bool:
        """Whether pages are counted at all (a budget of 0 turns it off)."""
        return self.units > 0

    def spend(self, address: str, kind: str) -> None:
        """Count a ``kind`` page for the client at ``address``; OverBudget when it cannot."""
        if not self.enabled:
            return
        # A budget smaller than a page's cost still lets that page through once a window.
        cost = min(COSTS[kind], self.units)
        keys = (client_key(address),)
        retry_after = self.counts.retry_after(keys, self.units, cost)
        if retry_after is not None:
            raise OverBudget(f"too many expensive pages ({kind}) from this client: "
                             f"try again in {retry_after} s, or use brz branch",
                             retry_after=retry_after)
        self.counts.add(keys, cost)
