"""Rendered browse pages kept in the worker, so a repeat of a page that cannot have
changed is sent without being built again.

A page's ETag already names everything it shows (the release and templates, the branch,
the view and its parameters, the negotiated type, the tip or revision id, the hour for
relative dates); the key adds what the body holds besides: the host and script root its
links are made from, and the path (the side-by-side toggle links to it). The cache is
per process, bounded in bytes (least recently used out first), and sits after the
budget hook and the 304: a hit is a page the client was allowed and did not have.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, request

EXTENSION_KEY = "bzrstore.page_cache"
# One page may take at most this share of the bound, so one huge page cannot empty it.
MAX_SHARE = 8


@dataclass(frozen=True)
class Page:
    """A rendered body and its Content-Type."""

    body: bytes
    content_type: str


class PageCache:
    """A thread-safe LRU map from key to ``Page``, its bodies' bytes at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._pages: OrderedDict[tuple[str, ...], Page] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: tuple[str, ...]) -> Page | None:
        """The page kept under ``key``, now the most recently used; None when not kept."""
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple[str, ...], page: Page) -> None:
        """Keep ``page`` under ``key`` (not when over its share), dropping the oldest."""
        if len(page.body) * MAX_SHARE > self.max_bytes:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self.size -= len(old.body)
            self._pages[key] = page
            self.size += len(page.body)
            while self.size > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self.size -= len(dropped.body)


def install_page_cache(app: Flask, max_bytes: int) -> None:
    """Give ``app`` its process's page cache (none when ``max_bytes`` is 0)."""
    if max_bytes > 0:
        app.extensions[EXTENSION_KEY] = PageCache(max_bytes)


def cached_response(etag: str, make: Callable[[], Response]) -> Response:
    """``make()``'s response, or the same body and type kept under ``etag`` for this URL."""
    cache: PageCache | None = current_app.extensions.get(EXTENSION_KEY)
    if cache is None:
        return make()
    key = (etag, request.url_root, request.path)
    page = cache.get(key)
    if page is not None:
        return Response(page.body, content_type=page.content_type)
    response = make()
    if response.status_code == 200 and not response.is_streamed:
        cache.put(key, Page(response.get_data(), response.content_type or ""))
    return response
