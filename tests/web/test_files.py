"""The file views (``web/files.py``): listings, file, annotate, raw, tarball, through WebTest."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from webtest import TestApp

from bzrstore.repos import trees
from bzrstore.web import file_pages as pages
from helpers import make_app, make_branch, make_browse_history, push_branch, seed, store_of

TRUNK = "/bzr/alpha/main/trunk/-"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


@dataclass
class Site:
    """An app whose codebase alpha has main/trunk (r1..r4, r3 merging s1, s2)."""

    app: Flask
    web: TestApp
    revs: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("files") / "data"
    app = seed(make_app(data))
    revs = make_browse_history(store_of(app).storage.codebase_dir("alpha"))
    yield Site(app, TestApp(app), revs)
    store_of(app).registry.close()


def by_id(revid: str) -> str:
    return quote(revid, safe="")


# --- directory listings --------------------------------------------------------------

def test_the_root_lists_directories_first_with_sizes_and_last_changes(site: Site):
    page = site.web.get(f"{TRUNK}/files", headers=HTML)
    rows = page.html.select("table.files tbody tr")
    assert [row.td.get_text(" ", strip=True) for row in rows] == [
        "dir/", "README", "data.bin", "hello.py", "side.txt"]
    readme = rows[1].find_all("td")
    assert readme[1].get_text(strip=True) == "27"
    assert readme[2].a.get_text() == "4" and "longer README" in readme[2].get_text()
    assert rows[0].a["href"] == f"{TRUNK}/files/dir"
    assert rows[1].a["href"] == f"{TRUNK}/file/README"
    side = rows[4].find_all("td")[2].a
    assert side.get_text() == "2.1.2" and side["href"] == f"{TRUNK}/revision/side%2Ftwo+more"


def test_listing_json(site: Site):
    data = site.web.get(f"{TRUNK}/files/dir", headers=JSON).json
    assert data["path"] == "dir" and data["revision_id"] == site.revs["r4"]
    assert data["total"] == 1 and not data["truncated"]
    [entry] = data["entries"]
    assert entry["name"] == "a.txt" and entry["path"] == "dir/a.txt" and entry["size"] == 17
    assert entry["last_changed"]["revision_id"] == site.revs["s1"]
    assert entry["last_changed"]["revno"] == "2.1.1"
    assert entry["last_changed"]["summary"] == "side: gamma"


def test_listing_at_a_revno_and_at_a_revision_id(site: Site):
    old = site.web.get(f"{TRUNK}/files?rev=1", headers=JSON).json
    assert [e["name"] for e in old["entries"]] == ["dir", "README", "data.bin", "hello.py"]
    page = site.web.get(f"{TRUNK}/files?rev={by_id(site.revs['s2'])}", headers=HTML)
    assert "side.txt" in page.text
    assert page.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    links = [a["href"] for a in page.html.select("table.files a")]
    assert f"{TRUNK}/file/side.txt?rev=side%2Ftwo%2Bmore" in links  # the revision follows


def test_listing_is_cut_at_its_limit_and_says_so(site: Site, monkeypatch):
    monkeypatch.setattr(trees, "MAX_LISTING_ENTRIES", 2)
    monkeypatch.setattr(trees.list_directory, "__defaults__", (2,))
    page = site.web.get(f"{TRUNK}/files?rev=3", headers=HTML)
    assert len(page.html.select("table.files tbody tr")) == 2
    assert "Showing the first 2 of 5 entries" in page.text


# --- file views -------------------------------------------------------------------------

def test_a_file_has_numbered_anchored_highlighted_lines(site: Site):
    page = site.web.get(f"{TRUNK}/file/hello.py", headers=HTML)
    rows = page.html.select("table.code tr")
    assert [row["id"] for row in rows] == ["L1", "L2", "L3", "L4", "L5"]
    assert rows[1].select_one("td.ln a")["href"] == "#L2"
    assert rows[0].select_one("span.k").get_text() == "def"  # Pygments' keyword class
    assert 'return "hello, world"' in rows[1].get_text()
    views = [a["href"] for a in page.html.select("ul.file-views a")]
    assert f"{TRUNK}/annotate/hello.py" in views and f"{TRUNK}/raw/hello.py" in views


def test_highlighted_lines_are_kept_for_the_next_view(site: Site, monkeypatch):
    first = site.web.get(f"{TRUNK}/file/hello.py?rev=1", headers=HTML)

    def never(*args: object) -> None:
        raise AssertionError("highlighted again")

    monkeypatch.setattr(pages, "highlight_lines", never)
    again = site.web.get(f"{TRUNK}/file/hello.py?rev=1", headers=HTML)
    assert again.html.select("table.code")[0] == first.html.select("table.code")[0]
    assert again.html.select_one("span.k").get_text() == "def"


def test_file_json(site: Site):
    data = site.web.get(f"{TRUNK}/file/hello.py?rev=1", headers=JSON).json
    assert data["text"] == 'def hello():\n    return "hello"\n'
    assert data["size"] == 32 and not data["binary"] and not data["truncated"]
    assert data["last_changed"]["revno"] == "1"


def test_a_binary_file_is_offered_as_a_download(site: Site):
    page = site.web.get(f"{TRUNK}/file/data.bin", headers=HTML)
    assert not page.html.select("table.code")
    assert page.html.select_one("p.cut a")["href"] == f"{TRUNK}/raw/data.bin"
    assert site.web.get(f"{TRUNK}/file/data.bin", headers=JSON).json["text"] is None


def test_a_long_file_is_cut_and_links_to_raw(site: Site, monkeypatch):
    monkeypatch.setattr(trees.read_file, "__defaults__", (16, 10_000, trees.MAX_READ_BYTES))
    page = site.web.get(f"{TRUNK}/file/hello.py?rev=2", headers=HTML)
    assert len(page.html.select("table.code tr")) == 1
    assert "Showing the first 1 lines" in page.text
    assert page.html.select("p.cut a")[-1]["href"] == f"{TRUNK}/raw/hello.py?rev=2"


def test_html_in_a_file_is_escaped(tmp_path: Path):
    app = seed(make_app(tmp_path / "data"))

    def write(path: Path, n: int) -> None:
        (path / "x.html").write_text("<script>alert(1)</script>\n")

    tree, _ = make_branch(tmp_path / "work", 1, write)
    push_branch(tree.branch, store_of(app).storage.ensure_repository("beta") / "trunk")
    page = TestApp(app).get("/bzr/beta/trunk/-/file/x.html", headers=HTML)
    assert "<script>alert" not in page.text and "&lt;" in page.text
    store_of(app).registry.close()


# --- annotate -----------------------------------------------------------------------------

def test_annotate_names_each_lines_revision_once_per_run(site: Site):
    page = site.web.get(f"{TRUNK}/annotate/dir/a.txt", headers=HTML)
    rows = page.html.select("table.annotate tbody tr")
    assert [row.select_one("td.rev").get_text(" ", strip=True) for row in rows] == [
        "1 Test Worker", "", "2.1.1 Test Worker"]
    assert rows[2].select_one("td.rev a")["href"] == f"{TRUNK}/revision/{site.revs['s1']}"
    assert rows[2]["id"] == "L3"


def test_annotate_json(site: Site):
    data = site.web.get(f"{TRUNK}/annotate/hello.py", headers=JSON).json
    assert [line["revision_id"] for line in data["lines"]] == [
        site.revs["r1"], *[site.revs["r2"]] * 4]
    assert data["lines"][1]["text"] == '    return "hello, world"'
    assert data["revisions"][site.revs["r2"]]["revno"] == "2"
    assert data["reason"] is None


def test_annotate_of_a_binary_says_why_not(site: Site):
    page = site.web.get(f"{TRUNK}/annotate/data.bin", headers=HTML)
    assert "Not annotated: a binary file" in page.text
    assert site.web.get(f"{TRUNK}/annotate/data.bin", headers=JSON).json["reason"] == (
        "a binary file")


# --- raw and tarball ----------------------------------------------------------------------

def test_raw_text_is_plain_text_that_cannot_run(site: Site):
    response = site.web.get(f"{TRUNK}/raw/hello.py?rev=1")
    assert response.body == b'def hello():\n    return "hello"\n'
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == "32"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "Content-Disposition" not in response.headers


def test_raw_binary_is_a_download(site: Site):
    response = site.web.get(f"{TRUNK}/raw/data.bin")
    assert response.body == bytes(range(256))
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''data.bin"


def test_tarball_of_the_tip(site: Site):
    response = site.web.get(f"{TRUNK}/tarball")
    assert response.headers["Content-Type"] == "application/gzip"
    name = "alpha-main-trunk-r4"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename*=UTF-8''{name}.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(response.body), mode="r:gz") as archive:
        names = archive.getnames()
        readme = archive.extractfile(f"{name}/README")
        assert readme is not None and readme.read() == b"A test branch.\nNow longer.\n"
    assert f"{name}/side.txt" in names and f"{name}/dir/a.txt" in names


def test_tarball_of_a_merged_revision_by_id(site: Site):
    response = site.web.get(f"{TRUNK}/tarball?rev={by_id(site.revs['s1'])}")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "alpha-main-trunk-r2.1.1.tar.gz" in response.headers["Content-Disposition"]


# --- caching --------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["files", "file/README", "annotate/README", "raw/README",
                                 "tarball"])
def test_tip_pages_revalidate_and_repeat_as_304(site: Site, url: str):
    first = site.web.get(f"{TRUNK}/{url}")
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = site.web.get(f"{TRUNK}/{url}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_int == 304 and again.body == b""


@pytest.mark.parametrize("url", ["files", "file/README", "annotate/README", "raw/README",
                                 "tarball"])
def test_pages_by_revision_id_are_immutable(site: Site, url: str):
    response = site.web.get(f"{TRUNK}/{url}?rev={site.revs['r2']}")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    tagged = site.web.get(f"{TRUNK}/{url}?rev=2")
    assert tagged.headers["Cache-Control"] == "no-cache"
    assert tagged.headers["ETag"] != response.headers["ETag"]


def test_html_and_json_have_different_tags_and_vary_on_accept(site: Site):
    html = site.web.get(f"{TRUNK}/file/README", headers=HTML)
    data = site.web.get(f"{TRUNK}/file/README", headers=JSON)
    assert html.headers["ETag"] != data.headers["ETag"]
    assert "Accept" in html.headers["Vary"]


# --- hostile input: a clear 4xx, and the site still answers ---------------------------------

@pytest.mark.parametrize(("url", "status", "message"), [
    (f"{TRUNK}/files/nosuch", 404, "no such path at this revision: nosuch"),
    (f"{TRUNK}/file/nosuch.txt", 404, "no such path"),
    (f"{TRUNK}/file/dir", 404, "not a file: dir"),
    (f"{TRUNK}/files/README", 404, "not a directory: README"),
    (f"{TRUNK}/raw/dir", 404, "not a file"),
    (f"{TRUNK}/annotate/dir", 404, "not a file"),
    (f"{TRUNK}/file/..%2F..%2Fetc%2Fpasswd", 400, "invalid path"),
    (f"{TRUNK}/file/a%00b", 400, "invalid path"),
    (f"{TRUNK}/raw/dir%2F..%2F..%2Fx", 400, "invalid path"),
    (f"{TRUNK}/file/README?rev=99", 404, "no revision 99"),
    (f"{TRUNK}/file/README?rev=nosuchrev", 404, "no such revision"),
    (f"{TRUNK}/file/README?rev=", 400, "empty revision"),
    (f"{TRUNK}/file/README?rev=a%0Ab", 400, "invalid revision id"),
    (f"{TRUNK}/tarball?rev=1.9.9", 404, "no revision 1.9.9"),
    (f"{TRUNK}/file/README?rev=null:", 404, "null:"),
    ("/bzr/alpha/main/nosuch/-/files", 404, "no branch at alpha/main/nosuch"),
    ("/bzr/gamma/main/trunk/-/files", 404, "no such codebase"),
    ("/bzr/alpha/../beta/-/files", 400, ""),
    ("/bzr/alpha/main/trunk/x/-/files", 400, ""),
])
def test_hostile_paths_and_revisions_are_clear_4xx(site: Site, url: str, status: int,
                                                     message: str):
    response = site.web.get(url, expect_errors=True)
    assert response.status_int == status, response.text
    assert message in response.text
    assert "Traceback" not in response.text
    assert site.web.get(f"{TRUNK}/files", headers=JSON).json["total"] == 5  # still serving


def test_errors_are_json_when_json_is_asked_for(site: Site):
    response = site.web.get(f"{TRUNK}/file/nosuch", headers=JSON, expect_errors=True)
    assert response.status_int == 404 and "no such path" in response.json["error"]


def test_an_empty_branch_lists_nothing(tmp_path: Path):
    from breezy.controldir import ControlDir

    app = seed(make_app(tmp_path / "data"))
    repository = store_of(app).storage.ensure_repository("beta")
    ControlDir.create_branch_convenience(str(repository / "trunk"), force_new_tree=False)
    web = TestApp(app)
    assert "no revisions yet" in web.get("/bzr/beta/trunk/-/files", headers=HTML).text
    assert web.get("/bzr/beta/trunk/-/files", headers=JSON).json["entries"] == []
    assert web.get("/bzr/beta/trunk/-/tarball", expect_errors=True).status_int == 404
    store_of(app).registry.close()
