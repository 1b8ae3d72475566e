"""The changes pages: history by page, merged revisions nested, tags, dates; HTML and JSON."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from bzrstore.repos.changes import changes_page
from bzrstore.repos.storage import create_shared_repository
from helpers import Browsing, make_browse_history

CHANGES = "/bzr/alpha/main/trunk/-/changes"
JSON = {"Accept": "application/json"}


def test_changes_lists_the_mainline_newest_first(browsing: Browsing) -> None:
    page = browsing.web.get(CHANGES)
    assert page.content_type == "text/html"
    revnos = re.findall(r'class="revno"><a href="[^"]+">([^<]+)</a>', page.text)
    assert revnos == ["4", "3", "2.1.2", "2.1.1", "2", "1"]
    assert page.text.index("longer README") < page.text.index("merge the side") < page.text.index(
        "initial import")


def test_merged_revisions_are_nested_in_a_details_element(browsing: Browsing) -> None:
    text = browsing.web.get(CHANGES).text
    details = text[text.index("<details"):text.index("</details>")]
    assert "2 merged revisions" in details
    assert "side: gamma" in details and "side: a file" in details
    assert "say more" not in details


def test_changes_link_each_revision_by_its_id(browsing: Browsing) -> None:
    text = browsing.web.get(CHANGES).text
    assert f'href="/bzr/alpha/main/trunk/-/revision/{browsing.revs["r4"]}"' in text
    # s2's id holds "/": one encoded path segment.
    assert 'href="/bzr/alpha/main/trunk/-/revision/side%2Ftwo+more"' in text


def test_changes_show_tags_authors_and_both_dates(browsing: Browsing) -> None:
    text = browsing.web.get(CHANGES).text
    assert '<span class="tag">v1.0</span>' in text and '<span class="tag">latest</span>' in text
    assert '<span class="author">Test Worker</span>' in text
    # r1 was committed at 1_700_000_000 in +01:00.
    assert "2023-11-14 23:13:20 +0100" in text
    assert 'datetime="2023-11-14T22:13:20Z"' in text
    assert re.search(r"\(\d+ years? ago\)", text)


def test_the_message_is_escaped(browsing: Browsing) -> None:
    text = browsing.web.get(CHANGES).text
    assert "initial import" in text and "<b>" not in text


def test_the_branch_header_links_the_views(browsing: Browsing) -> None:
    text = browsing.web.get(CHANGES).text
    assert '<a href="/bzr/alpha/">alpha</a> / main / trunk' in text
    assert 'href="/bzr/alpha/main/trunk/-/changes" aria-current="page"' in text
    assert "brz branch http://localhost/bzr/alpha/main/trunk" in text


def test_changes_as_json(browsing: Browsing) -> None:
    response = browsing.web.get(CHANGES, headers=JSON)
    assert response.content_type == "application/json"
    body = response.json
    assert (body["branch"], body["revno"], body["page"], body["pages"]) == (
        "alpha/main/trunk", 4, 1, 1)
    assert [c["revno"] for c in body["changes"]] == ["4", "3", "2", "1"]
    merge = body["changes"][1]
    assert [m["revision_id"] for m in merge["merged"]] == [browsing.revs["s2"],
                                                           browsing.revs["s1"]]
    assert merge["merged"][0]["depth"] == 1 and merge["merged_more"] == 0
    first = body["changes"][3]
    assert first == {
        "revno": "1", "revision_id": browsing.revs["r1"],
        "message": "initial import\n\nWith a <b>body</b>.", "authors": [
            "Test Worker <worker@example.com>"],
        "committer": "Test Worker <worker@example.com>", "timestamp": 1_700_000_000.0,
        "timezone": 3600, "tags": [], "merged": [], "merged_more": 0}
    assert body["changes"][0]["tags"] == ["latest"]


def test_tip_pages_revalidate_with_the_tip_in_their_etag(browsing: Browsing) -> None:
    first = browsing.web.get(CHANGES)
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.headers["Vary"] == "Accept"
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = browsing.web.get(CHANGES, headers={"If-None-Match": etag}, status=304)
    assert again.body == b"" and again.headers["ETag"] == etag
    json_etag = browsing.web.get(CHANGES, headers=JSON).headers["ETag"]
    assert json_etag != etag  # one tag per representation
    browsing.web.get(CHANGES, headers={"If-None-Match": json_etag}, status=200)


def test_a_push_changes_the_etag(browsing: Browsing) -> None:
    from breezy.branch import Branch

    etag = browsing.web.get(CHANGES).headers["ETag"]
    branch = Branch.open(str(browsing.data / "repos" / "alpha" / "main" / "trunk"))
    branch.set_last_revision_info(3, browsing.revs["r3"].encode())
    after = browsing.web.get(CHANGES, headers={"If-None-Match": etag}, status=200)
    assert after.headers["ETag"] != etag
    assert "longer README" not in after.text


def test_a_304_does_not_read_the_history(browsing: Browsing, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    history = importlib.import_module("bzrstore.web.history")  # the package's name is the blueprint
    etag = browsing.web.get(CHANGES).headers["ETag"]
    monkeypatch.setattr(history, "changes_page", lambda *args: pytest.fail("rendered"))
    browsing.web.get(CHANGES, headers={"If-None-Match": etag}, status=304)


def test_a_page_past_the_end_is_404(browsing: Browsing) -> None:
    response = browsing.web.get(CHANGES + "?page=2", status=404)
    assert response.text == "no page 2: the history has 1\n"


@pytest.mark.parametrize("page", ["0", "-1", "abc", "²", "1" * 13, ""])
def test_a_bad_page_is_400(browsing: Browsing, page: str) -> None:
    response = browsing.web.get(CHANGES + f"?page={quote(page)}", status=400)
    assert "page must be a whole number" in response.text


def test_pages_of_a_longer_history(browsing: Browsing) -> None:
    from bzrstore.repos.browse import open_location, parse_location

    branch = open_location(browsing.data / "repos" / "alpha",
                           parse_location("alpha/main/trunk"))
    first, second = changes_page(branch, 1, per_page=3), changes_page(branch, 2, per_page=3)
    assert (first.pages, second.pages) == (2, 2)
    assert [c.revno for c in first.changes] == ["4", "3", "2"]
    assert [c.revno for c in first.changes[1].merged] == ["2.1.2", "2.1.1"]
    assert [c.revno for c in second.changes] == ["1"]


def test_pages_link_newer_and_older(browsing: Browsing, monkeypatch: pytest.MonkeyPatch) -> None:
    from bzrstore.repos import changes

    monkeypatch.setattr(changes_page, "__defaults__", (2,))
    text = browsing.web.get(CHANGES + "?page=2").text
    assert 'href="/bzr/alpha/main/trunk/-/changes?page=1" rel="prev"' in text
    assert 'href="/bzr/alpha/main/trunk/-/changes?page=3" rel="next"' not in text
    assert "page 2 of 2" in text
    assert changes.CHANGES_PAGE_SIZE == 50


def test_merged_revisions_past_the_bound_are_counted(browsing: Browsing,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from bzrstore.repos import changes

    monkeypatch.setattr(changes, "MAX_MERGED_SHOWN", 1)
    body = browsing.web.get(CHANGES, headers=JSON).json
    assert len(body["changes"][1]["merged"]) == 1 and body["changes"][1]["merged_more"] == 1
    assert "… and 1 more" in browsing.web.get(CHANGES).text


def test_an_empty_branch_has_no_changes(browsing: Browsing) -> None:
    from breezy.controldir import ControlDir

    ControlDir.create_branch_convenience(str(browsing.data / "repos" / "alpha" / "empty"),
                                         force_new_tree=False)
    page = browsing.web.get("/bzr/alpha/empty/-/changes")
    assert "No revision has been committed" in page.text and "no revisions" in page.text
    assert browsing.web.get("/bzr/alpha/empty/-/changes", headers=JSON).json["changes"] == []


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/bzr/gamma/main/trunk/-/changes", 404, "no such codebase: gamma"),
    ("/bzr/beta/main/trunk/-/changes", 404, "no branch at beta/main/trunk"),
    ("/bzr/alpha/main/-/changes", 404, "no branch at alpha/main"),
    ("/bzr/alpha/-/changes", 404, "no branch at alpha"),
    ("/bzr/alpha/main/nothing/-/changes", 404, "no branch at alpha/main/nothing"),
    ("/bzr/Alpha/main/trunk/-/changes", 400, "invalid codebase name"),
    ("/bzr/alpha/main/trunk/deeper/-/changes", 400, "a branch is <codebase>"),
    ("/bzr/alpha/.bzr/trunk/-/changes", 400, "invalid campaign name"),
    ("/bzr/alpha/ma%00in/trunk/-/changes", 400, "invalid campaign name"),
    ("/bzr/alpha/m%C3%A4in/trunk/-/changes", 400, "invalid campaign name"),
    ("/bzr/alpha/main/trunk/-/nothing", 404, None),
    ("/bzr/alpha/main/trunk/-/changes/extra", 404, None),
])
def test_hostile_and_missing_locations(browsing: Browsing, path: str, status: int,
                                       message: str | None) -> None:
    response = browsing.web.get(path, status=status)
    if message:
        assert message in response.text
    assert "Traceback" not in response.text
    browsing.web.get(CHANGES, status=200)  # nothing else broke


def test_the_jail_holds_for_a_symlinked_branch(browsing: Browsing, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    create_shared_repository(outside)
    make_browse_history(tmp_path / "other")
    (browsing.data / "repos" / "alpha" / "escape").symlink_to(tmp_path / "other" / "main")
    response = browsing.web.get("/bzr/alpha/escape/trunk/-/changes", status=404)
    assert str(tmp_path) not in response.text


def test_errors_answer_json_when_asked(browsing: Browsing) -> None:
    response = browsing.web.get("/bzr/alpha/main/none/-/changes", headers=JSON, status=404)
    assert response.json == {"error": "no branch at alpha/main/none", "status": 404}


ATOM = "/bzr/alpha/main/trunk/-/atom"
ATOM_NS = "{http://www.w3.org/2005/Atom}"


def test_the_atom_feed_lists_the_mainline(browsing: Browsing) -> None:
    import xml.etree.ElementTree as ET

    response = browsing.web.get(ATOM)
    assert response.content_type == "application/atom+xml"
    assert response.headers["Cache-Control"] == "no-cache"
    feed = ET.fromstring(response.body)
    entries = feed.findall(f"{ATOM_NS}entry")
    assert [e.findtext(f"{ATOM_NS}title") for e in entries] == [
        "4: longer README", "3: merge the side", "2: say more", "1: initial import"]
    assert entries[0].findtext(f"{ATOM_NS}id") == (
        f"http://localhost/bzr/alpha/main/trunk/-/revision/{browsing.revs['r4']}")
    assert entries[0].find(f"{ATOM_NS}category").get("term") == "latest"
    assert entries[3].findtext(f"{ATOM_NS}content") == "initial import\n\nWith a <b>body</b>."
    assert feed.findtext(f"{ATOM_NS}updated") == "2023-11-15T03:13:20Z"
    browsing.web.get(ATOM, headers={"If-None-Match": response.headers["ETag"]}, status=304)


def test_the_feed_is_bounded(browsing: Browsing, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("bzrstore.web.history"), "FEED_ENTRIES", 2)
    body = browsing.web.get(ATOM, headers=JSON).json
    assert [c["revno"] for c in body["changes"]] == ["4", "3"]


def test_the_feed_keeps_xml_valid(browsing: Browsing) -> None:
    import xml.etree.ElementTree as ET

    from breezy.branch import Branch

    branch = Branch.open(str(browsing.data / "repos" / "alpha" / "main" / "trunk"))
    tree = branch.create_checkout(str(browsing.data.parent / "co"), lightweight=True)
    tree.commit("bell \x07 and form feed \x0c", allow_pointless=True,
                committer="Ev\x01l <e@example.com>")
    feed = ET.fromstring(browsing.web.get(ATOM).body)
    assert feed.find(f"{ATOM_NS}entry").findtext(f"{ATOM_NS}title").startswith("5: bell")


def test_the_feed_of_an_empty_branch(browsing: Browsing) -> None:
    import xml.etree.ElementTree as ET

    from breezy.controldir import ControlDir

    ControlDir.create_branch_convenience(str(browsing.data / "repos" / "alpha" / "empty"),
                                         force_new_tree=False)
    feed = ET.fromstring(browsing.web.get("/bzr/alpha/empty/-/atom").body)
    assert feed.findall(f"{ATOM_NS}entry") == []


def test_the_feed_offers_atom_or_json_only(browsing: Browsing) -> None:
    response = browsing.web.get(ATOM, headers={"Accept": "text/html"}, status=406)
    assert "application/atom+xml" in response.text


def test_no_request_leaves_the_kept_repository_locked(browsing: Browsing) -> None:
    from bzrstore.repos import browse

    for path, status in ((CHANGES, 200), (CHANGES + "?page=9", 404),
                         ("/bzr/alpha/main/trunk/-/revision/nope", 404),
                         ("/bzr/alpha/main/trunk/-/revision/2", 200)):
        browsing.web.get(path, status=status)
        kept = list(browse._kept.repositories.values())
        assert kept and not any(repository.is_locked() for repository in kept), path
