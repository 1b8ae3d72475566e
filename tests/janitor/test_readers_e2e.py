"""What Janitor reads, requested as Janitor's code requests it, on both listeners.

- the site (``py/janitor/site/simple.py``) GETs the listing with aiohttp's default
  headers (``Accept: */*``) and calls ``resp.json()``: it needs a JSON array of names;
- the Rust client (``src/vcs.rs``, ``RemoteBzrVcsManager``) joins onto its base URL
  ``<vcs-location>`` + ``bzr`` (no trailing slash, so the join lands at the root):
  ``repositories`` (a ``Vec<String>``), ``<cb>/diff?old=&new=`` (raw bytes) and
  ``<cb>/revision-info?old=&new=`` (``RevisionInfo``: ``revision_id``, ``message``,
  ``link`` an absolute ``Url`` or null, ``commit_id`` bytes or null).
"""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urljoin, urlsplit

import pytest

from helpers import as_worker

AIOHTTP_HEADERS = {"Accept": "*/*", "Accept-Encoding": "identity",
                   "User-Agent": "Python/3.11 aiohttp/3.9.1"}
LISTENERS = ["public", "internal"]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` with ``headers`` (aiohttp's by default): status, headers, body."""
    request = urllib.request.Request(url, headers=headers or AIOHTTP_HEADERS)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, dict(response.headers), response.read()


def rust_base(url: str) -> str:
    """``get_vcs_managers(location)``'s bzr base: ``Url::parse(location).join("bzr")``."""
    return urljoin(url + "/", "bzr")


@pytest.fixture(params=LISTENERS)
def base(request, janitor_store) -> str:
    """The listener's base URL; the internal one must be listening."""
    if request.param == "internal":
        assert janitor_store.internal_listens(), "no internal listener"
        return janitor_store.internal_url
    return janitor_store.url


@pytest.fixture(scope="module")
def revids(janitor_store, tmp_path_factory) -> list[str]:
    """Revision ids of three commits pushed to ``foo/campaign/main``, oldest first."""
    from breezy.controldir import ControlDir

    path = tmp_path_factory.mktemp("readers") / "wt"
    tree = ControlDir.create_standalone_workingtree(str(path))
    ids = []
    for n in range(3):
        (path / "file.txt").write_text(f"line {n}\n" * (n + 1))
        tree.smart_add([str(path)])
        ids.append(tree.commit(f"commit {n}", committer="W <w@example.com>").decode())
    url = "bzr+" + as_worker(f"{janitor_store.url}/bzr/foo/campaign/main")
    ControlDir.create(url, format=tree.controldir.cloning_metadir()).push_branch(tree.branch)
    return ids


@pytest.mark.parametrize("path", ["/bzr/", "/"])
def test_site_listing_accept_any(janitor_store, base, path):
    """``handle_repo_list``: ``session.get(url)`` then ``await resp.json()``."""
    status, headers, body = get(base + path)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == ["foo"]
    assert headers["X-Total-Count"] == "1"


def test_listing_json_requested(janitor_store, base):
    """Janitor's test_index asks for ``application/json`` and expects ``["foo"]``."""
    _, _, body = get(base + "/bzr/", {"Accept": "application/json"})
    assert json.loads(body) == ["foo"]


def test_listing_html_for_browsers(janitor_store, base):
    """Browsers keep the HTML page."""
    _, headers, _ = get(base + "/bzr/", {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert headers["Content-Type"].startswith("text/html")


def test_rust_list_repositories(janitor_store, base):
    """``list_repositories``: ``base_url.join("repositories")`` as ``Vec<String>``."""
    url = urljoin(rust_base(base), "repositories")
    assert urlsplit(url).path == "/repositories"
    status, _, body = get(url)
    assert status == 200
    names = json.loads(body)
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)
    assert "foo" in names


def test_rust_revision_info(janitor_store, base, revids):
    """``get_revision_info``: serde's ``RevisionInfo`` reads every entry; links are absolute."""
    old, new = revids[0], revids[-1]
    url = urljoin(rust_base(base), f"foo/revision-info?old={old}&new={new}")
    status, _, body = get(url)
    assert status == 200
    entries = json.loads(body)
    assert [e["revision_id"] for e in entries] == [revids[2], revids[1]]
    assert [e["message"] for e in entries] == ["commit 2", "commit 1"]
    for entry in entries:
        assert entry["commit_id"] is None
        link = urlsplit(entry["link"])
        assert link.scheme == "http" and link.netloc == urlsplit(base).netloc
        status, headers, diff = get(entry["link"])
        assert status == 200 and headers["Content-Type"].startswith("text/x-diff")


def test_differ_diff(janitor_store, base, revids):
    """``get_diff``: the differ's GET, its bytes taken as they come."""
    url = urljoin(rust_base(base), f"foo/diff?old={revids[0]}&new={revids[-1]}")
    status, headers, body = get(url)
    assert status == 200
    assert headers["Content-Type"].startswith("text/x-diff")
    assert b"+line 2\n" in body and b"--- " in body
