"""The HTML pages in a real browser: Debian's chromium, headless, against gunicorn."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright

from browsers import Browser, launch, screenshot
from helpers import WORKER, StoreServer, run_cli
from servers import Brz

# The pages are the same whatever the registry backend: run on the embedded one only; and
# look for chromium before starting the store, so a skip is quick.
pytestmark = [pytest.mark.usefixtures("chromium"),
              pytest.mark.parametrize("store", ["sqlite"], indirect=True)]

ADMIN = ("boss", "boss-secret")
BRANCH = "lintian-fixes/main"


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
