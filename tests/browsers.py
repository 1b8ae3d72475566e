"""Headless chromium for the page tests: start it, record what went wrong, screenshot.

Debian's chromium, driven by Playwright's driver (shipped in its wheel; it drives our
chromium, not one of its own). The fixtures are in ``tests/web/conftest.py``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Playwright, Response

CHROMIUM = "chromium"
# The flags this machine needs: root has no sandbox, no GPU, and no talking to Google.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_SCREENSHOT_BYTES = 8_000  # blank at this size is ~3 kB; our smallest page ~14 kB
VIEWPORT = {"width": 1024, "height": 640}


@dataclass
class Browser:
    """A headless chromium with a fresh profile, and the errors it logged."""

    context: BrowserContext
    errors: list[str] = field(default_factory=list)
    responses: dict[str, int] = field(default_factory=dict)

    def open(self, url: str) -> Page:
        """Load ``url`` in a new tab, recording every error the page or its requests meet."""
        page = self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("requestfailed", lambda request: self.errors.append(
            f"request failed: {request.url} {request.failure}"))
        page.on("response", self._response)
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, url
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console {message.type}: {message.text} {message.location}")

    def _response(self, response: Response) -> None:
        self.responses[response.url] = response.status
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")


def launch(playwright: Playwright, chromium: str, tmp_path: Path,
           credentials: tuple[str, str] | None = None, **options: Any) -> BrowserContext:
    """Start headless chromium with an empty profile under ``tmp_path``.

    ``options`` go to Playwright's context: ``viewport``, ``java_script_enabled``, …
    """
    options.setdefault("viewport", VIEWPORT)
    return playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
        http_credentials=({"username": credentials[0], "password": credentials[1]}
                          if credentials else None), **options)


def screenshot(page: Page, path: Path, min_width: int = VIEWPORT["width"],
               min_height: int = VIEWPORT["height"]) -> None:
    """Save a full-page PNG and check it is one, with something drawn in it."""
    page.screenshot(path=path, full_page=True)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= min_width and height >= min_height, (width, height)
    assert len(data) >= MIN_SCREENSHOT_BYTES, f"{path} is only {len(data)} bytes"
