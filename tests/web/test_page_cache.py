"""The page cache: a repeat of a browse page is the same bytes and headers, unbuilt; a new
tip, another type or host misses; the bound in bytes holds; the budget still refuses."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from breezy.workingtree import WorkingTree
from flask import Flask
from webtest import TestApp

from bzrstore.config import ConfigError, load_settings
from bzrstore.web.page_cache import EXTENSION_KEY, MAX_SHARE, Page, PageCache
from helpers import make_browse_history, store_of

BRANCH = "/bzr/alpha/main/trunk/-"
JSON = {"Accept": "application/json"}
# The modules (``bzrstore.web`` exports blueprints under their names).
history_views = importlib.import_module("bzrstore.web.history")
files_views = importlib.import_module("bzrstore.web.files")
HEADERS = ("ETag", "Cache-Control", "Vary", "Content-Type", "Content-Length")


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    make_browse_history(store_of(seeded).settings.repos_dir / "alpha")
    return TestApp(seeded)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time a changes or file page is built (not answered from the cache)."""
    made: list[str] = []
    real_changes, real_file = history_views.changes_page, files_views.pages.file_page

    def changes_page(*args: Any) -> Any:
        made.append("changes")
        return real_changes(*args)

    def file_page(*args: Any) -> Any:
        made.append("file")
        return real_file(*args)

    monkeypatch.setattr(history_views, "changes_page", changes_page)
    monkeypatch.setattr(files_views.pages, "file_page", file_page)
    return made


def cache_of(web: TestApp) -> PageCache:
    return web.app.extensions[EXTENSION_KEY]


@pytest.mark.parametrize("url", [f"{BRANCH}/changes", f"{BRANCH}/file/hello.py",
                                 f"{BRANCH}/file/hello.py?rev=2"])
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_a_hit_is_the_same_bytes_and_headers_unbuilt(web: TestApp, builds: list[str],
                                                     url: str, accept: str) -> None:
    first = web.get(url, headers={"Accept": accept})
    second = web.get(url, headers={"Accept": accept})
    assert len(builds) == 1
    assert second.body == first.body
    assert [second.headers.get(h) for h in HEADERS] == [first.headers.get(h) for h in HEADERS]
    assert first.headers["Vary"] == "Accept"


def test_html_and_json_are_kept_apart(web: TestApp, builds: list[str]) -> None:
    html = web.get(f"{BRANCH}/changes", headers={"Accept": "text/html"})
    data = web.get(f"{BRANCH}/changes", headers=JSON)
    assert builds == ["changes", "changes"]
    assert html.content_type == "text/html" and data.content_type == "application/json"
    assert web.get(f"{BRANCH}/changes", headers=JSON).body == data.body
    assert len(builds) == 2


def test_a_revalidation_is_still_a_304(web: TestApp, builds: list[str]) -> None:
    etag = web.get(f"{BRANCH}/changes").headers["ETag"]
    web.get(f"{BRANCH}/changes", headers={"If-None-Match": etag}, status=304)
    assert builds == ["changes"]


def test_a_new_tip_misses(web: TestApp, builds: list[str]) -> None:
    before = web.get(f"{BRANCH}/changes")
    work = Path(store_of(web.app).settings.repos_dir) / "alpha-work"
    (work / "README").write_text("A test branch.\nLonger still.\n")
    WorkingTree.open(str(work)).commit("the fifth", committer="Test <t@example.com>")
    after = web.get(f"{BRANCH}/changes")
    assert builds == ["changes", "changes"]
    assert "the fifth" in after.text and "the fifth" not in before.text
    assert after.headers["ETag"] != before.headers["ETag"]


def test_another_host_misses(web: TestApp, builds: list[str]) -> None:
    web.get(f"{BRANCH}/changes", extra_environ={"HTTP_HOST": "one.example"})
    other = web.get(f"{BRANCH}/changes", extra_environ={"HTTP_HOST": "two.example"})
    assert builds == ["changes", "changes"]
    assert "two.example" in other.text and "one.example" not in other.text


def test_errors_are_not_kept(web: TestApp) -> None:
    web.get(f"{BRANCH}/file/nowhere.txt", status=404)
    web.get(f"{BRANCH}/file/nowhere.txt", status=404)
    assert len(cache_of(web)) == 0


@pytest.mark.parametrize("app_overrides", [{"page_cache_bytes": 0}])
def test_no_cache_when_its_bound_is_zero(web: TestApp, builds: list[str]) -> None:
    assert EXTENSION_KEY not in web.app.extensions
    web.get(f"{BRANCH}/changes")
    web.get(f"{BRANCH}/changes")
    assert builds == ["changes", "changes"]


@pytest.mark.parametrize("app_overrides", [{"page_budget": 1}])
def test_the_budget_refuses_a_kept_page(web: TestApp) -> None:
    url = f"{BRANCH}/annotate/hello.py"
    web.get(url)
    assert len(cache_of(web)) == 1
    refused = web.get(url, status=429)
    assert "Retry-After" in refused.headers


def test_the_bound_in_bytes_holds_oldest_out_first() -> None:
    cache = PageCache(max_bytes=1000)
    for n in range(20):
        cache.put((str(n),), Page(b"x" * 100, "text/html"))
        assert cache.size <= 1000
    assert len(cache) == 10 and cache.size == 1000
    assert cache.get(("9",)) is None and cache.get(("10",)) is not None
    cache.get(("10",))  # now the most recently used: "11" goes next
    cache.put(("new",), Page(b"y" * 100, "text/html"))
    assert cache.get(("11",)) is None and cache.get(("10",)) is not None


def test_a_page_over_its_share_is_not_kept() -> None:
    cache = PageCache(max_bytes=800)
    cache.put(("big",), Page(b"x" * (800 // MAX_SHARE + 1), "text/html"))
    cache.put(("fits",), Page(b"x" * (800 // MAX_SHARE), "text/html"))
    assert cache.get(("big",)) is None and cache.get(("fits",)) is not None


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = PageCache(max_bytes=1000)
    cache.put(("a",), Page(b"x" * 100, "text/html"))
    cache.put(("a",), Page(b"x" * 50, "text/html"))
    assert cache.size == 50 and len(cache) == 1


def test_a_negative_bound_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BZRSTORE_PAGE_CACHE_BYTES"):
        load_settings(environ={"BZRSTORE_PAGE_CACHE_BYTES": "-1"}, data=tmp_path)
