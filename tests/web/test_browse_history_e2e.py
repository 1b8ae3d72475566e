"""Browsing history on a branch pushed by the real brz through gunicorn: listing -> changes ->
revision -> compare -> feed, with caching validators, on each registry backend."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

from servers import Brz


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers and body, error statuses included."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_pushed_branch_is_browsable_from_the_listing(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    revids = brz.make_branch(work, revisions=3)
    brz.run("tag", "-d", work, "-r", "2", "v2")
    brz.run("push", "-d", work, store.writer_url("alpha/browse/main"))

    status, _, listing = fetch(store.url + "/bzr/alpha/", Accept="text/html")
    changes_path = re.search(r'href="(/bzr/alpha/browse/main/-/changes)"', listing.decode())[1]
    status, headers, page = fetch(store.url + changes_path, Accept="text/html")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    assert re.findall(r'class="revno"><a href="[^"]+">(\d+)</a>', page.decode()) == [
        "3", "2", "1"]
    assert '<span class="tag">v2</span>' in page.decode()
    assert fetch(store.url + changes_path, **{"If-None-Match": headers["ETag"],
                                              "Accept": "text/html"})[0] == 304

    revision_url = f"{store.url}/bzr/alpha/browse/main/-/revision/{quote(revids[1], safe='@')}"
    status, headers, page = fetch(revision_url, Accept="text/html")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "commit 1" in page.decode() and "dir/file.txt" in page.decode()
    status, _, body = fetch(revision_url, Accept="application/json")
    assert {f["path"] for f in json.loads(body)["files"]} == {"dir/file.txt", "f1.txt"}

    status, _, body = fetch(f"{store.url}/bzr/alpha/browse/main/-/compare/1..3",
                            Accept="application/json")
    assert [r["revno"] for r in json.loads(body)["revisions"]] == ["3", "2"]

    status, headers, feed = fetch(f"{store.url}/bzr/alpha/browse/main/-/atom")
    assert headers["Content-Type"].startswith("application/atom+xml")
    assert len(ET.fromstring(feed).findall("{http://www.w3.org/2005/Atom}entry")) == 3

    # A new push moves the tip: the old tag no longer matches.
    brz.make_branch(work, revisions=1, start=3)
    brz.run("push", "-d", work, store.writer_url("alpha/browse/main"))
    assert fetch(store.url + changes_path, **{"If-None-Match": headers["ETag"]})[0] == 200


def test_hostile_browse_urls_get_clear_4xx(store):
    for path, status in (("/bzr/alpha/browse/..%2F..%2Fetc/-/changes", 400),
                         ("/bzr/alpha/%2e%2e/main/-/changes", 400),
                         ("/bzr/alpha/nothing/here/-/changes", 404),
                         ("/bzr/alpha/browse/main/-/revision/%00", 400),
                         ("/bzr/alpha/browse/main/-/revision/99999", 404),
                         ("/bzr/alpha/browse/main/-/changes?page=99999999999999", 400)):
        got, _, body = fetch(store.url + path, Accept="text/plain")
        assert got == status, (path, body)
        assert b"Traceback" not in body and str(store.data).encode() not in body
    assert fetch(store.url + "/health")[0] == 200
