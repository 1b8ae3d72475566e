"""The revision and compare pages: metadata, the highlighted diff, side by side, caching."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from bzrstore.repos import pagediff
from bzrstore.repos.pagediff import parse_diff
from helpers import BROWSED_BRANCH as BRANCH
from helpers import Browsing

JSON = {"Accept": "application/json"}
IMMUTABLE = "public, max-age=31536000, immutable"


def test_a_revision_shows_its_metadata(browsing: Browsing) -> None:
    text = browsing.web.get(f"{BRANCH}/revision/2").text
    assert "<h1>Revision 2 <span class=\"tag\">v1.0</span></h1>" in text
    assert '<pre class="message">say more</pre>' in text
    assert browsing.revs["r2"] in text
    assert "Test Worker &lt;worker@example.com&gt;" in text
    assert "2023-11-15 00:13:20 +0100" in text
    assert f'<a href="{BRANCH}/revision/{browsing.revs["r1"]}">1</a>' in text


def test_a_revision_diff_is_highlighted_with_line_numbers(browsing: Browsing) -> None:
    text = browsing.web.get(f"{BRANCH}/revision/2").text
    assert '<span class="k">return</span> <span class="s2">&#34;hello, world&#34;</span>' in text \
        or '<span class="k">return</span> <span class="s2">"hello, world"</span>' in text
    assert re.search(r'<tr class="del"><td class="ln">2</td><td class="ln"></td>', text)
    assert re.search(r'<tr class="add"><td class="ln"></td><td class="ln">5</td>', text)
    assert '<span class="added">+4</span> <span class="removed">−1</span>' in text


def test_files_have_anchors_and_the_plain_diff_is_linked(browsing: Browsing) -> None:
    text = browsing.web.get(browsing.url("revision", "r3")).text
    assert '<a href="#file-dir/a.txt">dir/a.txt</a>' in text
    assert '<div class="file" id="file-dir/a.txt">' in text
    plain = re.search(r'<a href="([^"]+)" type="text/x-diff">Plain diff</a>', text)[1]
    diff = browsing.web.get(plain.replace("&amp;", "&"))
    assert diff.content_type == "text/x-diff"
    assert "+gamma" in diff.text and "=== added file 'side.txt'" in diff.text


def test_a_merge_lists_what_it_merged(browsing: Browsing) -> None:
    text = browsing.web.get(f"{BRANCH}/revision/3").text
    assert "2 revisions</summary>" in text
    assert 'href="/bzr/alpha/main/trunk/-/revision/side%2Ftwo+more">2.1.2</a> (merged)' in text
    body = browsing.web.get(f"{BRANCH}/revision/3", headers=JSON).json
    assert [m["revno"] for m in body["merged"]] == ["2.1.2", "2.1.1"]


def test_side_by_side_pairs_lines_without_javascript(browsing: Browsing) -> None:
    text = browsing.web.get(f"{BRANCH}/revision/2?view=sbs").text
    assert "<script" not in text
    row = re.search(r'<tr><td class="ln">2</td><td class="code del">(.*?)</td>'
                    r'<td class="ln">2</td><td class="code add">(.*?)</td></tr>', text)
    assert row and "hello" in row[1] and "hello, world" in row[2]
    assert f'<a href="{BRANCH}/revision/2">Unified</a> · <strong>Side by side</strong>' in text


def test_a_bad_view_is_400(browsing: Browsing) -> None:
    assert "view must be one of unified, sbs" in browsing.web.get(
        f"{BRANCH}/revision/2?view=x", status=400).text


def test_the_first_revision_diffs_against_nothing(browsing: Browsing) -> None:
    body = browsing.web.get(f"{BRANCH}/revision/1", headers=JSON).json
    assert body["parents"] == []
    assert {f["path"]: (f["action"], f["binary"]) for f in body["files"]} == {
        "README": ("added", False), "data.bin": ("added", True), "dir": ("added", False),
        "dir/a.txt": ("added", False), "hello.py": ("added", False)}
    assert "old=null%3A" in body["diff_url"] or "old=null:" in body["diff_url"]
    assert "Binary file" in browsing.web.get(f"{BRANCH}/revision/1").text


def test_revision_json(browsing: Browsing) -> None:
    body = browsing.web.get(browsing.url("revision", "s2"), headers=JSON).json
    assert body["revision_id"] == "side/two+more" and body["revno"] == "2.1.2"
    assert body["parents"] == [{"revision_id": browsing.revs["s1"], "revno": "2.1.1"}]
    assert body["files"] == [{"path": "side.txt", "old_path": "side.txt", "action": "added",
                              "kind": "file", "binary": False, "added": 1, "removed": 0}]
    assert body["diff_cut"] is None


def test_by_id_is_immutable_by_revno_revalidates(browsing: Browsing) -> None:
    by_id = browsing.web.get(browsing.url("revision", "r2"))
    assert by_id.headers["Cache-Control"] == IMMUTABLE
    by_revno = browsing.web.get(f"{BRANCH}/revision/2")
    assert by_revno.headers["Cache-Control"] == "no-cache"
    assert by_id.headers["ETag"] != by_revno.headers["ETag"]
    browsing.web.get(browsing.url("revision", "r2"),
                     headers={"If-None-Match": by_id.headers["ETag"]}, status=304)
    browsing.web.get(f"{BRANCH}/revision/2",
                     headers={"If-None-Match": by_revno.headers["ETag"]}, status=304)
    sbs = browsing.web.get(browsing.url("revision", "r2") + "?view=sbs")
    assert sbs.headers["ETag"] != by_id.headers["ETag"]


def test_an_immutable_etag_survives_a_push(browsing: Browsing) -> None:
    from breezy.branch import Branch

    etag = browsing.web.get(browsing.url("revision", "r2")).headers["ETag"]
    branch = Branch.open(str(browsing.data / "repos" / "alpha" / "main" / "trunk"))
    branch.set_last_revision_info(3, browsing.revs["r3"].encode())
    assert browsing.web.get(browsing.url("revision", "r2")).headers["ETag"] == etag


@pytest.mark.parametrize(("spec", "status", "message"), [
    ("5", 404, "no revision 5 (the branch has 4)"),
    ("0", 404, "no revision 0"),
    ("9.9.9", 404, "no revision 9.9.9 in this branch"),
    ("nope", 404, "no such revision: nope"),
    ("null:", 404, "null: is no revision to show"),
    ("a%00b", 400, "invalid revision id"),
    ("%FF%FE", 404, "no such revision"),
    ("x" * 1100, 400, "invalid revision id"),
    ("..%2F..%2Fetc%2Fpasswd", 404, "no such revision"),
])
def test_hostile_and_unknown_revisions(browsing: Browsing, spec: str, status: int,
                                       message: str) -> None:
    response = browsing.web.get(f"{BRANCH}/revision/{spec}", status=status)
    assert message in response.text and "Traceback" not in response.text
    browsing.web.get(f"{BRANCH}/revision/1", status=200)


def test_a_revision_of_another_branch_in_the_codebase_shows(browsing: Browsing) -> None:
    text = browsing.web.get(f"/bzr/alpha/main/side/-/revision/{browsing.revs['r4']}").text
    assert "(not in this branch&#39;s history)" in text or "(not in this branch's history)" in text


def test_compare_lists_revisions_and_the_diff(browsing: Browsing) -> None:
    page = browsing.web.get(f"{BRANCH}/compare/1..4")
    assert page.headers["Cache-Control"] == "no-cache"
    assert "<h2>3 revisions</h2>" in page.text
    assert '<a href="#file-side.txt">side.txt</a>' in page.text
    body = browsing.web.get(f"{BRANCH}/compare/1..4", headers=JSON).json
    assert [r["revno"] for r in body["revisions"]] == ["4", "3", "2"]
    assert [f["path"] for f in body["files"]] == ["README", "dir/a.txt", "hello.py",
                                                  "side.txt"]
    assert body["more_revisions"] is False


def test_compare_by_ids_is_immutable(browsing: Browsing) -> None:
    spec = f"{browsing.revs['r2']}..{quote(browsing.revs['s2'], safe='+')}"
    page = browsing.web.get(f"{BRANCH}/compare/{spec}")
    assert page.headers["Cache-Control"] == IMMUTABLE
    body = browsing.web.get(f"{BRANCH}/compare/{spec}", headers=JSON).json
    assert [r["revision_id"] for r in body["revisions"]] == [browsing.revs["s2"],
                                                            browsing.revs["s1"]]


def test_compare_bounds_its_revision_list(browsing: Browsing,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import import_module

    monkeypatch.setattr(import_module("bzrstore.web.revision"), "MAX_COMPARE_REVISIONS", 2)
    body = browsing.web.get(f"{BRANCH}/compare/1..4", headers=JSON).json
    assert len(body["revisions"]) == 2 and body["more_revisions"] is True


@pytest.mark.parametrize(("spec", "status", "message"), [
    ("1-4", 400, "compare takes two revisions"),
    ("1..", 400, "empty revision"),
    ("..4", 400, "empty revision"),
    ("1..99", 404, "no revision 99"),
    ("1..4..5", 404, "no such revision: 4..5"),
])
def test_bad_compares(browsing: Browsing, spec: str, status: int, message: str) -> None:
    assert message in browsing.web.get(f"{BRANCH}/compare/{spec}", status=status).text


def test_a_long_diff_is_cut_with_a_link_to_the_plain_diff(
        browsing: Browsing, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagediff, "MAX_PAGE_DIFF_LINES", 4)
    monkeypatch.setattr(pagediff.page_diff, "__defaults__", (pagediff.MAX_PAGE_DIFF_BYTES, 4))
    text = browsing.web.get(f"{BRANCH}/revision/1").text
    assert "This page stops here: the diff is longer than a page shows (4 lines" in text
    body = browsing.web.get(f"{BRANCH}/revision/1", headers=JSON).json
    assert body["diff_cut"].startswith("longer than a page shows")
    # The files past the cut are still named.
    assert [f["path"] for f in body["files"]] + body["files_not_shown"] == [
        "README", "data.bin", "dir", "dir/a.txt", "hello.py"]
    assert body["files_not_shown"] and body["files_not_shown_more"] is False
    assert "more changed path" in text


def test_parse_diff_reads_renames_properties_and_no_newline() -> None:
    files = parse_diff(
        "=== renamed file 'a b' => 'c'd' (properties changed: +x to -x)\n"
        "--- old/a b\t2020\n+++ new/c'd\t2020\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n"
        "\\ No newline at end of file\n\n=== removed directory 'gone'\n")
    assert [(f.action, f.old_path, f.path, f.properties) for f in files] == [
        ("renamed", "a b", "c'd", "properties changed: +x to -x"),
        ("removed", "gone", "gone", "")]
    assert [(line.op, line.old_no, line.new_no) for line in files[0].hunks[0]] == [
        (" ", 1, 1), ("-", 2, None), ("+", None, 2), ("\\", None, None)]


def test_changed_files_link_to_the_file_view_at_the_revision(browsing: Browsing) -> None:
    text = browsing.web.get(browsing.url("revision", "s2")).text
    assert ('<a class="view" href="/bzr/alpha/main/trunk/-/file/side.txt?rev=side%2Ftwo%2Bmore">'
            in text)
    removed = browsing.web.get(f"{BRANCH}/compare/{quote(browsing.revs['s2'], safe='')}..1").text
    assert "-/file/side.txt" not in removed  # side.txt is gone in revision 1
