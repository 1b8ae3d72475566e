"""Names: SPEC's patterns, hostile names through the smart path, escaped listings."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from webtest import TestApp

from bzrstore.registry.branches import BranchTip, Push
from bzrstore.repos.names import InvalidName, check_campaign, check_segment, split_branch_path
from bzrstore.smart.pushlog import PushContext, pushing, record_tip_change
from helpers import basic, store_of
from servers import tree_snapshot
from smartwire import request_v3

HEADERS = {"Content-Type": "application/octet-stream"}
WORKER_HEADERS = {**HEADERS, **basic("worker", "secret")}
INIT = request_v3(b"BzrDirFormat.initialize_ex_1.16", b"x", b".", b"False", b"False",
                  b"False", b"", b"", b"", b"False", b"False")
FORGED = "x\nfakebranch\t999\tfake-revid"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    """The seeded app, alpha's repository made by a first smart request."""
    web = TestApp(seeded)
    web.post("/bzr/alpha/.bzr/smart", request_v3(b"hello"), headers=HEADERS)
    return web


@pytest.fixture
def repos(web: TestApp):
    return store_of(web.app).settings.repos_dir


@pytest.mark.parametrize("path", [
    "camp/main/x%0Afakebranch%09999%09fake-revid",   # the forged listing row
    "camp/main/.hidden",                             # leading dot below a role
    "camp/.hidden",                                  # role with a leading dot
    "camp/ma%09in",                                  # tab in a role
    "camp/main/x%C2%85y",                            # C1 control (NEL)
    "camp/main/x%7Fy",                               # DEL
    "camp/main/x%1By",                               # ESC (terminal escapes)
    "camp/r%C3%B4le",                                # non-ASCII role
    "camp/main/d%C3%A9j%C3%A0",                      # non-ASCII below a role
    "camp/ro%2Cle",                                  # comma: Breezy segment parameters
])
@pytest.mark.parametrize("headers", [HEADERS, WORKER_HEADERS], ids=["anonymous", "worker"])
def test_hostile_names_are_refused_before_the_disk(web, repos, path, headers):
    before = tree_snapshot(repos)
    response = web.post(f"/bzr/alpha/{path}/.bzr/smart", INIT, headers=headers,
                        expect_errors=True)
    assert response.status_int == 400
    assert response.content_type == "text/plain"
    assert tree_snapshot(repos) == before


def test_file_names_below_a_role_are_still_probed(web):
    for path in ("camp/main/dir/file.txt", "camp/main/my file~", "camp/main/a+b=c"):
        response = web.post(f"/bzr/alpha/{path}/.bzr/smart", request_v3(b"hello"),
                            headers=HEADERS)
        assert response.status_int == 200, path


def test_a_255_character_codebase_gets_its_repository(web, repos):
    name = "a" * 255
    web.app.extensions["bzrstore"].registry.add_codebase(name)
    response = web.post(f"/bzr/{name}/.bzr/smart", request_v3(b"hello"), headers=HEADERS)
    assert response.status_int == 200
    assert (repos / name / ".bzr").is_dir()


def test_verb_arguments_cannot_name_a_control_character_path(web, repos):
    for request in (request_v3(b"mkdir", b"camp\tx", b""),
                    request_v3(b"put", b"f\nx", b"", body=b"data"),
                    request_v3(b"BzrDirFormat.initialize_ex_1.16", b"x", FORGED.encode(),
                               b"False", b"False", b"True", b"", b"", b"", b"False", b"False")):
        web.post("/bzr/alpha/.bzr/smart", request, headers=WORKER_HEADERS)
    assert not [p for p in (repos / "alpha").rglob("*") if CONTROL.search(p.name)]


def record(web: TestApp, path: str, revision_id: str = "rev-1") -> None:
    """A branch row as an older release or Janitor's own database may hold it."""
    push = Push("alpha", path, 0, "null:", 1, revision_id, "worker", 1.0)
    web.app.extensions["bzrstore"].registry.record_push(
        push, BranchTip(path, 1, revision_id, "<b>c</b>", 1.0, "<script>x</script>"))


def test_text_listing_escapes_every_field(web):
    record(web, FORGED, "rev\twith\ttabs")
    record(web, "camp/main")
    text = web.get("/bzr/alpha/", headers={"Accept": "text/plain"}).text
    rows = text.splitlines()
    assert len(rows) == 2 and all(row.count("\t") == 2 for row in rows)
    assert "x\\nfakebranch\\t999\\tfake-revid\t1\trev\\twith\\ttabs" in rows


def test_html_listing_escapes_names_and_messages(web):
    record(web, "camp/<img src=x>")
    html = web.get("/bzr/alpha/", headers={"Accept": "text/html"}).text
    assert "<img src=x>" not in html and "<script>" not in html and "<b>c</b>" not in html
    assert "&lt;img src=x&gt;" in html


def test_push_hook_does_not_record_an_unchecked_path(web):
    store = web.app.extensions["bzrstore"]
    root = "chroot-1:///"
    params = SimpleNamespace(branch=SimpleNamespace(base=root + "camp/x%0Afake/"),
                             new_revid=b"null:", old_revid=b"null:", new_revno=0, old_revno=0)
    with pushing(PushContext(store.registry, "alpha", root, "worker")):
        record_tip_change(params)
    assert store.registry.list_branches("alpha") == []


@given(st.text(max_size=300))
def test_accepted_names_are_printable_ascii_without_a_leading_dot(text):
    for check in (check_campaign, check_segment):
        try:
            check(text)
        except InvalidName:
            continue
        assert text.isascii() and text.isprintable() and not text.startswith(".")
        assert "/" not in text and "\\" not in text and len(text) <= 255


def test_split_branch_path_checks_campaign_and_role_by_the_spec_pattern():
    assert split_branch_path("alpha/c+1/main/dir/f.txt") == ("alpha",
                                                             ("c+1", "main", "dir", "f.txt"))
    for bad in ("alpha/camp/ma~in", "alpha/camp/" + "r" * 101, "alpha/-camp"):
        with pytest.raises(InvalidName):
            split_branch_path(bad)
