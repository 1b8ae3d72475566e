"""Codebase listings: content negotiation, filtering and pagination, from the registry."""

from __future__ import annotations

import pytest
from webtest import TestApp

from bzrstore.web.listings import PAGE_SIZE
from helpers import make_app, store_of

NAMES = [f"pkg{n:05d}" for n in range(3000)] + ["zlib", "python3.11", "g++-12"]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> TestApp:
    """Thousands of codebases, registered once for the module."""
    app = make_app(tmp_path_factory.mktemp("listings") / "data")
    registry = store_of(app).registry
    for name in NAMES:
        registry.add_codebase(name)
    return TestApp(app)


def test_json_listing_pages_through_thousands(web: TestApp):
    response = web.get("/bzr/?page=7", headers={"Accept": "application/json"})
    assert response.headers["Vary"] == "Accept"
    body = response.json
    assert body["total"] == len(NAMES)
    assert body["codebases"] == sorted(NAMES)[6 * PAGE_SIZE : 7 * PAGE_SIZE]
    last = web.get(f"/bzr/?page={len(NAMES) // PAGE_SIZE + 1}",
                   headers={"Accept": "application/json"}).json
    assert last["codebases"] == sorted(NAMES)[(len(NAMES) // PAGE_SIZE) * PAGE_SIZE :]


def test_filter(web: TestApp):
    body = web.get("/bzr/?q=py", headers={"Accept": "application/json"}).json
    assert body == {"codebases": ["python3.11"], "total": 1, "page": 1, "per_page": PAGE_SIZE}
    assert web.get("/?q=%2B%2B", headers={"Accept": "application/json"}).json["codebases"] == [
        "g++-12"]


def test_html_listing(web: TestApp):
    response = web.get("/bzr/?q=pkg0001")
    assert response.content_type == "text/html"
    items = response.html.select("ul#codebases li a")
    assert [a.text for a in items] == [f"pkg0001{n}" for n in range(10)]
    assert items[0]["href"] == "/bzr/pkg00010/"
    assert "10 codebases" in response.text
    assert web.get("/").html.select_one("a[rel=next]")["href"] == "?q=&page=2"


def test_text_listing_has_every_match(web: TestApp):
    response = web.get("/bzr/", headers={"Accept": "text/plain"})
    assert response.content_type == "text/plain"
    assert response.text.splitlines() == sorted(NAMES)


def test_unacceptable_and_bad_page(web: TestApp):
    assert web.get("/bzr/", headers={"Accept": "image/png"}, status=406).status_int == 406
    assert web.get("/bzr/?page=0", status=400).text.strip() == (
        "page must be a whole number from 1 to 1000000")


def test_repositories_is_a_json_list_of_names(web: TestApp):
    assert web.get("/repositories").json == sorted(NAMES)


def test_branch_listing_reads_the_registry(web: TestApp):
    from bzrstore.registry.branches import BranchTip, Push

    registry = web.app.extensions["bzrstore"].registry
    tip = BranchTip("lintian-fixes/main", 5, "rev-5", "A <a@example.com>", 1_700_000_000.0,
                    "Fix <b>everything</b>")
    registry.record_push(Push("zlib", tip.path, 4, "rev-4", 5, "rev-5", "worker", 1.0), tip)
    rows = web.get("/bzr/zlib/", headers={"Accept": "application/json"}).json["branches"]
    assert rows == [{"path": "lintian-fixes/main", "revno": 5, "revision_id": "rev-5",
                     "committer": "A <a@example.com>", "timestamp": 1_700_000_000.0,
                     "message": "Fix <b>everything</b>"}]
    page = web.get("/bzr/zlib/")
    cells = [td.text for td in page.html.select("table#branches td")]
    assert cells[:3] == ["lintian-fixes/main", "5", "2023-11-14 22:13 UTC"]
    assert "Fix <b>everything</b>" in cells  # escaped, shown as text
    assert web.get("/bzr/zlib/", headers={"Accept": "text/plain"}).text == (
        "lintian-fixes/main\t5\trev-5\n")
    assert web.get("/bzr/nosuch/", status=404).status_int == 404
    assert web.get("/bzr/Bad!/", status=400).status_int == 400
