"""Codebase listings: content negotiation, filtering and pagination, from the registry."""

from __future__ import annotations

import re

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


JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
LAST_PAGE = -(-len(NAMES) // PAGE_SIZE)


def links(response) -> dict[str, str]:
    """The ``Link`` header as {rel: URL}."""
    pairs = re.findall(r'<([^>]*)>; rel="([a-z]+)"', response.headers["Link"])
    assert ", ".join(f'<{url}>; rel="{rel}"' for url, rel in pairs) == response.headers["Link"]
    return {rel: url for url, rel in pairs}


def test_json_listing_pages_through_thousands(web: TestApp):
    response = web.get("/bzr/?page=7", headers=JSON)
    assert response.headers["Vary"] == "Accept"
    assert response.json == sorted(NAMES)[6 * PAGE_SIZE : 7 * PAGE_SIZE]
    assert response.headers["X-Total-Count"] == str(len(NAMES))
    last = web.get(f"/bzr/?page={LAST_PAGE}", headers=JSON).json
    assert last == sorted(NAMES)[(LAST_PAGE - 1) * PAGE_SIZE :]


@pytest.mark.parametrize("accept", ["*/*", None, "application/json, text/plain, */*"])
def test_a_client_that_accepts_anything_gets_a_json_array(web: TestApp, accept: str | None):
    # aiohttp (Janitor's site), requests, curl and reqwest send */*; no header means the same.
    headers = {"Accept": accept} if accept else {}
    for path in ("/", "/bzr/"):
        response = web.get(path, headers=headers)
        assert response.content_type == "application/json"
        assert response.json == sorted(NAMES)[:PAGE_SIZE]


@pytest.mark.parametrize("accept", [
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",  # Firefox
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",  # Chromium
])
def test_browsers_still_get_html(web: TestApp, accept: str):
    assert web.get("/bzr/", headers={"Accept": accept}).content_type == "text/html"


def test_link_and_total_on_the_first_middle_and_last_page(web: TestApp):
    base = "http://localhost/bzr/"
    first = web.get("/bzr/", headers=JSON)
    assert links(first) == {"first": f"{base}?page=1", "next": f"{base}?page=2",
                            "last": f"{base}?page={LAST_PAGE}"}
    middle = web.get("/bzr/?page=7", headers=JSON)
    assert links(middle) == {"first": f"{base}?page=1", "prev": f"{base}?page=6",
                             "next": f"{base}?page=8", "last": f"{base}?page={LAST_PAGE}"}
    last = web.get(f"/?page={LAST_PAGE}", headers=JSON)
    assert links(last) == {"first": "http://localhost/?page=1",
                           "prev": f"http://localhost/?page={LAST_PAGE - 1}",
                           "last": f"http://localhost/?page={LAST_PAGE}"}
    for response in (first, middle, last):
        assert response.headers["X-Total-Count"] == str(len(NAMES))
    beyond = web.get("/bzr/?page=999", headers=JSON)
    assert beyond.json == [] and links(beyond)["prev"] == f"{base}?page={LAST_PAGE}"
    assert "next" not in links(beyond)


def test_following_next_visits_every_name_once(web: TestApp):
    seen: list[str] = []
    url: str | None = "/bzr/"
    while url:
        response = web.get(url, headers=JSON)
        seen += response.json
        url = links(response).get("next")
    assert seen == sorted(NAMES)


def test_filter(web: TestApp):
    response = web.get("/bzr/?q=py", headers=JSON)
    assert response.json == ["python3.11"]
    assert response.headers["X-Total-Count"] == "1"
    assert links(response) == {"first": "http://localhost/bzr/?q=py&page=1",
                               "last": "http://localhost/bzr/?q=py&page=1"}
    assert web.get("/?q=%2B%2B", headers=JSON).json == ["g++-12"]
    filtered = web.get("/bzr/?q=pkg00&page=2", headers=JSON)  # pkg00000 to pkg00999
    assert filtered.json == [f"pkg00{n:03d}" for n in range(100, 200)]
    assert filtered.headers["X-Total-Count"] == "1000"
    assert links(filtered) == {rel: f"http://localhost/bzr/?q=pkg00&page={n}" for rel, n in
                               (("first", 1), ("prev", 1), ("next", 3), ("last", 10))}
    nothing = web.get("/bzr/?q=nosuch", headers=JSON)
    assert nothing.json == [] and nothing.headers["X-Total-Count"] == "0"
    assert set(links(nothing)) == {"first", "last"}


def test_links_use_the_public_url(tmp_path):
    app = make_app(tmp_path / "data", public_url="https://code.example.org/store")
    store_of(app).registry.add_codebase("zlib")
    response = TestApp(app).get("/bzr/?q=z", headers=JSON)
    assert links(response)["first"] == "https://code.example.org/store/bzr/?q=z&page=1"


def test_html_listing(web: TestApp):
    response = web.get("/bzr/?q=pkg0001", headers=HTML)
    assert response.content_type == "text/html"
    items = response.html.select("ul#codebases li a")
    assert [a.text for a in items] == [f"pkg0001{n}" for n in range(10)]
    assert items[0]["href"] == "/bzr/pkg00010/"
    assert "10 codebases" in response.text
    assert response.headers["X-Total-Count"] == "10"
    assert web.get("/", headers=HTML).html.select_one("a[rel=next]")["href"] == "?q=&page=2"


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
    # Each branch leads to its history in the browser.
    assert page.html.select_one("table#branches td a")["href"] == (
        "/bzr/zlib/lintian-fixes/main/-/changes")
    assert "Fix <b>everything</b>" in cells  # escaped, shown as text
    assert web.get("/bzr/zlib/", headers={"Accept": "text/plain"}).text == (
        "lintian-fixes/main\t5\trev-5\n")
    assert web.get("/bzr/nosuch/", status=404).status_int == 404
    assert web.get("/bzr/Bad!/", status=400).status_int == 400
