"""Generated URLs, query strings and headers against the HTTP routes (not the smart path).

Whatever an anonymous client sends: no 500, no traceback or filesystem path in the body,
and nothing on disk changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes, urlencode

import pytest
from breezy.controldir import ControlDir
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from helpers import make_app, store_of
from servers import tree_snapshot

COMMITTER = "Test Worker <worker@example.com>"
# Enough to reach every route with odd parameters (about 15 s); 4000 random ones passed too.
EXAMPLES = 800
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@dataclass
class Site:
    """The app over a data directory with codebase ``alpha`` (one branch) and ``beta``."""

    app: Flask
    data: Path
    revids: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("fuzz")
    app = make_app(root / "data")
    store = store_of(app)
    for name in ("alpha", "beta"):
        store.registry.add_codebase(name)
    # Created on first use by design (SPEC): made here, so any later change is a finding.
    store.storage.ensure_repository("beta")
    repo = store.storage.ensure_repository("alpha")
    tree = ControlDir.create_standalone_workingtree(str(root / "work"))
    (root / "work" / "a.txt").write_text("one\n")
    tree.add(["a.txt"])
    revids = [tree.commit("first", committer=COMMITTER).decode()]
    (root / "work" / "a.txt").write_text("two\n")
    revids.append(tree.commit("second", committer=COMMITTER).decode())
    (repo / "c").mkdir()
    tree.branch.controldir.sprout(str(repo / "c" / "main"), create_tree_if_local=False)
    return Site(app, root / "data", revids)


# Text a hostile client likes: digits that are not ASCII, controls, separators, non-ASCII.
NASTY = st.sampled_from([
    "", "0", "1", "-1", "²", "٣", "1e3", "0x10", "99999999999999999999999", " ", "\x00",
    "\x1b[2J", "\x85", "\ud800", "..", ".", "/", "%2f", "%00", "%ff", "\\", "null:",
    "c/main", "a.txt", "ü", "*/*", "main", ".bzr", "q" * 300,
])
TEXT = st.one_of(NASTY, st.text(max_size=40), st.text(alphabet="0123456789²٣-+.", max_size=25))
CODEBASE = st.one_of(st.sampled_from(["alpha", "beta", "gamma", "Alpha", "a..b", "-x"]), TEXT)
SEGMENT = st.one_of(st.sampled_from(["c", "main", ".bzr", "branch", "last-revision",
                                     "lock", "held", "info"]), TEXT)
# Numbers as a client may spell them: huge, negative, or digits Python's int() refuses.
NUMBER = st.one_of(
    st.integers(min_value=-10**25, max_value=10**25).map(str),
    st.text(alphabet=st.characters(categories=("Nd", "No")), min_size=1, max_size=4),
    st.builds("".join, st.lists(st.sampled_from(["1", "²", "٣", "0"]), min_size=1, max_size=4)),
    NASTY)
NUMERIC_PARAMS = ("page", "limit")
TEXT_PARAMS = ("q", "old", "new", "path", "codebase", "url", "target", "x")


def raw_quote(text: str) -> str:
    """``text`` percent-encoded as UTF-8, lone surrogates too (a client may send any bytes)."""
    return quote(text, safe="", errors="surrogatepass")


@st.composite
def paths(draw) -> str:
    """A route with generated parts, or a path made of generated segments."""
    cb = raw_quote(draw(CODEBASE))
    segs = "/".join(raw_quote(s) for s in draw(st.lists(SEGMENT, max_size=4)))
    template = draw(st.sampled_from([
        "/", "/bzr/", "/bzr/{cb}/", "/{cb}/diff", "/{cb}/revision-info", "/repositories",
        "/admin/", "/api/pushes", "/health", "/ready", "/openapi.json",
        "/bzr/{cb}/{segs}/.bzr/{segs}", "/bzr/{cb}/{segs}", "/{cb}/remotes/{segs}",
        "/{segs}", "/admin/break-lock",
    ]))
    return template.format(cb=cb, segs=segs)


@st.composite
def requests(draw, revids: list[str]) -> dict:
    """A request: method, path, query string, headers, body."""
    text = st.one_of(TEXT, st.sampled_from(revids))
    query = draw(st.lists(st.one_of(st.tuples(st.sampled_from(NUMERIC_PARAMS), NUMBER),
                                     st.tuples(st.sampled_from(TEXT_PARAMS), text)),
                          max_size=4))
    headers = draw(st.dictionaries(
        st.sampled_from(["Accept", "Accept-Charset", "Accept-Encoding", "If-None-Match",
                         "If-Modified-Since", "Range", "Origin", "Content-Type", "Cookie",
                         "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"]),
        st.one_of(NASTY, st.sampled_from(["application/json", "text/plain;q=0.5, */*",
                                          "text/html;q=x", "application/json;q=2",
                                          "bytes=0-1", "bytes=5-1", "*"]),
                  st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                          max_size=40)),
        max_size=3))
    return {
        "method": draw(st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT", "OPTIONS"])),
        "path": draw(paths()), "query_string": urlencode(query, errors="surrogatepass"),
        "headers": headers, "body": draw(st.binary(max_size=64)),
    }


def environ(request: dict) -> dict:
    """The WSGI environ a server builds for ``request``: PATH_INFO unquoted, as latin-1."""
    builder = EnvironBuilder(method=request["method"], headers=request["headers"],
                             data=request["body"])
    environ = builder.get_environ()
    environ["PATH_INFO"] = unquote_to_bytes(request["path"]).decode("latin-1")
    environ["QUERY_STRING"] = request["query_string"]
    environ["RAW_URI"] = request["path"] + "?" + request["query_string"]
    return environ


def is_smart(path: str) -> bool:
    """Paths the smart-protocol fuzz tier covers."""
    return path.rstrip("/").endswith(".bzr/smart")


@FUZZ
@given(data=st.data())
def test_no_request_gets_a_500_or_changes_the_disk(site: Site, data):
    before = tree_snapshot(site.data / "repos")
    request = data.draw(requests(site.revids))
    if is_smart(request["path"]):
        return
    app_iter, status, _ = run_wsgi_app(site.app, environ(request), buffered=True)
    body = b"".join(app_iter)
    assert int(status.split()[0]) < 500, (request, body[:300])
    assert b"Traceback" not in body
    assert str(site.data).encode() not in body
    assert tree_snapshot(site.data / "repos") == before
