"""The browse pages in real headless chromium, on a branch pushed with the real brz.

Each page type: a screenshot (under the test's tmp dir), no console error or failed
request, no serious or critical axe-core violation; the same page with JavaScript off
shows its content (the side-by-side diff and the merged revisions included); at a
phone's width (390 px) nothing scrolls sideways.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import breezy.bzr.bzrdir  # noqa: F401 - registers the Bazaar formats
import pytest
from breezy.controldir import ControlDir
from playwright.sync_api import Page, Playwright

from browsers import Browser, launch, screenshot
from helpers import StoreServer
from servers import Brz

pytestmark = [pytest.mark.usefixtures("chromium"),
              pytest.mark.parametrize("store", ["sqlite"], indirect=True)]

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BRANCH = "alpha/browse/main"
PHONE = {"width": 390, "height": 844}
# axe-core's impact levels that fail a page; "minor" and "moderate" are reported only.
BLOCKING_IMPACTS = ("serious", "critical")
COMMITTER = "Ada Lovelace <ada@example.com>"
APP = "".join(f"def step_{n}(x: int) -> int:\n    return x + {n}\n\n" for n in range(40))


@dataclass(frozen=True)
class PageType:
    """A browse page: its name, its URL below the branch and a text it must show."""

    name: str
    path: str
    shows: str


PAGES = [
    PageType("changes", "changes", "tidy the readme"),
    PageType("revision", "revision/4", "src/app.py"),
    PageType("revision-sbs", "revision/4?view=sbs", "src/app.py"),
    PageType("compare", "compare/1..4", "merge the feature"),
    PageType("files", "files", "README.txt"),
    PageType("directory", "files/src", "app.py"),
    PageType("file", "file/src/app.py", "def step_39"),
    PageType("binary-file", "file/logo.png", "logo.png"),
    PageType("annotate", "annotate/src/app.py", "def step_39"),
]


def build_branch(work: Path) -> None:
    """Four mainline revisions with a tag, a merge of two side revisions, text and binary."""
    tree = ControlDir.create_standalone_workingtree(str(work))
    (work / "src").mkdir()
    (work / "src" / "app.py").write_text(APP.replace("step_39", "step_x"))
    (work / "README.txt").write_text("Browse me.\n" * 20)
    (work / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (work / "ünïcödé.txt").write_text("grüße\n")
    tree.smart_add([str(work)])
    tree.commit("import the project", committer=COMMITTER)
    (work / "src" / "app.py").write_text(APP)
    tree.commit("name the last step", committer=COMMITTER)
    tree.branch.tags.set_tag("v1.0", tree.last_revision())
    side = tree.controldir.sprout(str(work.parent / "side")).open_workingtree()
    for n in range(2):
        (work.parent / "side" / "docs.txt").write_text(f"docs {n}\n")
        if n == 0:
            side.add(["docs.txt"])
        side.commit(f"feature step {n}", committer=COMMITTER)
    tree.merge_from_branch(side.branch)
    tree.commit("merge the feature", committer=COMMITTER)
    (work / "README.txt").write_text("Browse me, please.\n" * 20)
    (work / "src" / "app.py").write_text(APP + "def main() -> None:\n    pass\n")
    tree.commit("tidy the readme", committer=COMMITTER)


@pytest.fixture(scope="module")
def branch_url(store: StoreServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Push the branch with the real brz as the worker; its browse URL prefix."""
    home = tmp_path_factory.mktemp("browse-brz")
    build_branch(home / "work")
    Brz(home / "home").run("push", "-d", home / "work", store.writer_url(BRANCH))
    return f"{store.url}/bzr/{BRANCH}/-"


@pytest.fixture
def browser(playwright: Playwright, chromium: str, tmp_path: Path) -> Iterator[Browser]:
    """A browser with JavaScript (axe-core needs it), CSP bypassed to inject axe."""
    context = launch(playwright, chromium, tmp_path, bypass_csp=True)
    yield Browser(context)
    context.close()


@pytest.fixture
def no_js_browser(playwright: Playwright, chromium: str, tmp_path: Path) -> Iterator[Browser]:
    """A browser with JavaScript turned off."""
    context = launch(playwright, chromium, tmp_path, java_script_enabled=False)
    yield Browser(context)
    context.close()


@pytest.fixture
def phone(playwright: Playwright, chromium: str, tmp_path: Path) -> Iterator[Browser]:
    """A browser at a phone's size."""
    context = launch(playwright, chromium, tmp_path, viewport=PHONE, is_mobile=True,
                     has_touch=True, device_scale_factor=1)
    yield Browser(context)
    context.close()


def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on ``page``."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]


@pytest.mark.parametrize("page_type", PAGES, ids=lambda p: p.name)
def test_page_renders_clean_and_accessible(branch_url: str, browser: Browser,
                                           page_type: PageType, tmp_path: Path):
    assert AXE.is_file(), "axe-core missing: run npm ci --prefix tests (.ci/run does)"
    page = browser.open(f"{branch_url}/{page_type.path}")
    assert page_type.shows in page.inner_text("body")
    screenshot(page, tmp_path / f"{page_type.name}.png")
    assert browser.errors == []
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1)


@pytest.mark.parametrize("page_type", PAGES, ids=lambda p: p.name)
def test_page_works_without_javascript(branch_url: str, no_js_browser: Browser,
                                       page_type: PageType, tmp_path: Path):
    page = no_js_browser.open(f"{branch_url}/{page_type.path}")
    assert page_type.shows in page.inner_text("body")
    screenshot(page, tmp_path / f"{page_type.name}-nojs.png")
    assert no_js_browser.errors == []


def test_merged_revisions_and_side_by_side_need_no_javascript(branch_url: str,
                                                              no_js_browser: Browser):
    changes = no_js_browser.open(f"{branch_url}/changes")
    body = changes.inner_text("body")
    assert "merge the feature" in body and "v1.0" in body
    # Merged revisions (2.1.1 and 2.1.2) are reachable without scripts: shown, or folded
    # in a <details> that opens by itself, with links to their revision pages.
    if "feature step 1" not in body:
        changes.click("details summary")
        assert "feature step 1" in changes.inner_text("body")
    links = changes.eval_on_selector_all(
        "details a[href*='/-/revision/']", "as => [...new Set(as.map(a => a.href))]")
    assert len(links) == 2, links
    for link in links:
        assert "feature step" in no_js_browser.open(link).inner_text("body")
    sbs = no_js_browser.open(f"{branch_url}/revision/4?view=sbs")
    assert "Browse me, please." in sbs.inner_text("body")


@pytest.mark.parametrize("page_type", PAGES, ids=lambda p: p.name)
def test_page_fits_a_phone(branch_url: str, phone: Browser, page_type: PageType,
                           tmp_path: Path):
    page = phone.open(f"{branch_url}/{page_type.path}")
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == PHONE["width"], f"scrolls sideways: {widths}"
    screenshot(page, tmp_path / f"{page_type.name}-phone.png", min_width=PHONE["width"],
               min_height=PHONE["height"])
    assert phone.errors == []
