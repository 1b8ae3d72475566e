"""The HTML pages in a real browser: Debian's chromium, headless, against gunicorn."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    sync_playwright,
)

from helpers import WORKER, StoreServer, run_cli, starts_processes
from servers import Brz

# The pages are the same whatever the registry backend: run on the embedded one only; and
# look for chromium before starting the store, so a skip is quick.
pytestmark = [pytest.mark.usefixtures("chromium"),
              pytest.mark.parametrize("store", ["sqlite"], indirect=True)]

CHROMIUM = "chromium"
ADMIN = ("boss", "boss-secret")
BRANCH = "lintian-fixes/main"
# The flags this machine needs: root has no sandbox, no GPU, and no talking to Google.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_SCREENSHOT_BYTES = 8_000  # blank at this size is ~3 kB; our smallest page ~14 kB
VIEWPORT = {"width": 1024, "height": 640}


@dataclass
class Site:
    """The store with a second codebase, an admin and one real push to ``alpha``."""

    store: StoreServer
    revision_ids: list[str]

    @property
    def url(self) -> str:
        return self.store.url


@pytest.fixture(scope="module")
def site(store: StoreServer, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Add ``beta`` and the admin ``boss``, then push a two-revision branch as the worker."""
    run_cli(store.env, "codebase", "add", "beta")
    run_cli(store.env, "worker", "add", ADMIN[0], "--admin", stdin=ADMIN[1] + "\n")
    home = tmp_path_factory.mktemp("browser-brz")
    brz = Brz(home / "home")
    revision_ids = brz.make_branch(home / "work", revisions=2)
    brz.run("push", "-d", home / "work", store.writer_url(f"alpha/{BRANCH}"))
    return Site(store, revision_ids)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of Debian's chromium; skip without it, except under CI, where it must be there."""
    path = shutil.which(CHROMIUM)
    if path is None:
        reason = f"{CHROMIUM} is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
@starts_processes
def playwright() -> Iterator[Playwright]:
    """The Playwright driver (shipped in its wheel; it drives our chromium, not its own)."""
    with sync_playwright() as driver:
        yield driver


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
           credentials: tuple[str, str] | None = None) -> BrowserContext:
    """Start headless chromium with an empty profile under ``tmp_path``."""
    return playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
        viewport=VIEWPORT,
        http_credentials=({"username": credentials[0], "password": credentials[1]}
                          if credentials else None))


@pytest.fixture
def browser(playwright: Playwright, chromium: str, tmp_path: Path) -> Iterator[Browser]:
    """An anonymous browser."""
    context = launch(playwright, chromium, tmp_path)
    yield Browser(context)
    context.close()


@pytest.fixture
def admin_browser(playwright: Playwright, chromium: str, tmp_path: Path) -> Iterator[Browser]:
    """A browser that answers the Basic challenge as the admin."""
    context = launch(playwright, chromium, tmp_path, credentials=ADMIN)
    yield Browser(context)
    context.close()


def cells(page: Page, selector: str) -> list[list[str]]:
    """The text of each cell of each row matched by ``selector``."""
    return page.eval_on_selector_all(
        selector, "rows => rows.map(tr => [...tr.cells].map(td => td.textContent.trim()))")


def texts(page: Page, selector: str) -> list[str]:
    """The text of every element matched by ``selector``."""
    return [text.strip() for text in page.locator(selector).all_text_contents()]


def screenshot(page: Page, path: Path) -> None:
    """Save a full-page PNG and check it is one, with something drawn in it."""
    page.screenshot(path=path, full_page=True)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= VIEWPORT["width"] and height >= VIEWPORT["height"], (width, height)
    assert len(data) >= MIN_SCREENSHOT_BYTES, f"{path} is only {len(data)} bytes"


def check_clean(browser: Browser, url: str) -> None:
    """The page and its stylesheet loaded, and the browser logged no error."""
    assert browser.errors == []
    assert browser.responses.get(url + "/static/style.css") == 200, browser.responses


def test_codebases_page(site: Site, browser: Browser, tmp_path: Path):
    page = browser.open(site.url + "/bzr/")
    assert texts(page, "ul#codebases li a") == ["alpha", "beta"]
    assert page.locator("ul#codebases a").first.get_attribute("href") == "/bzr/alpha/"
    screenshot(page, tmp_path / "bzr.png")
    check_clean(browser, site.url)


def test_branches_page(site: Site, browser: Browser, tmp_path: Path):
    page = browser.open(site.url + "/bzr/alpha/")
    rows = cells(page, "table#branches tbody tr")
    assert [row[:2] for row in rows] == [[BRANCH, "2"]]
    assert rows[0][3:] == ["Test Worker <worker@example.com>", "commit 1"]
    message = page.locator("table#branches tbody tr td").last
    assert message.get_attribute("title") == site.revision_ids[-1]
    screenshot(page, tmp_path / "branches.png")
    check_clean(browser, site.url)


def test_admin_page(site: Site, admin_browser: Browser, tmp_path: Path):
    page = admin_browser.open(site.url + "/admin/")
    codebases = cells(page, "#admin-codebases tbody tr")
    assert [row[0] for row in codebases] == ["alpha", "beta"]
    assert [row[2] for row in codebases] == ["1", "0"]
    assert codebases[0][4] == WORKER[0] and codebases[1][3:] == ["", ""]
    assert texts(page, "#workers li") == ["boss (admin)", "worker"]
    pushes = cells(page, "#pushes tbody tr")
    assert [row[1:] for row in pushes] == [[f"alpha/{BRANCH}", "0 → 2", WORKER[0]]]
    screenshot(page, tmp_path / "admin.png")
    check_clean(admin_browser, site.url)
