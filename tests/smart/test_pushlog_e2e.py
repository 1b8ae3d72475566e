"""The push log and branch listing, written by real brz pushes through gunicorn."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from bzrstore.config import load_settings
from bzrstore.registry import open_registry
from servers import Brz


def _branches(store) -> dict[str, dict]:
    request = urllib.request.Request(store.url + "/bzr/alpha/",
                                     headers={"Accept": "application/json"})
    with urllib.request.urlopen(request) as response:
        return {row["path"]: row for row in json.load(response)["branches"]}


def test_pushes_are_logged_and_listed(store, brz: Brz, tmp_path: Path):
    registry = open_registry(load_settings(environ=store.env))
    work = tmp_path / "work"
    first = brz.make_branch(work, revisions=2)
    brz.run("push", "-d", work, store.writer_url("alpha/logged/main"))

    row = _branches(store)["logged/main"]
    assert (row["revno"], row["revision_id"], row["message"]) == (2, first[-1], "commit 1")
    assert row["committer"] == "Test Worker <worker@example.com>"
    pushes = [p for p in registry.recent_pushes("alpha") if p.path == "logged/main"]
    assert [(p.old_revno, p.new_revno, p.new_revision_id, p.worker) for p in pushes] == [
        (0, 2, first[-1], "worker")]

    second = brz.make_branch(work, revisions=1, start=2)
    brz.run("push", "-d", work, store.writer_url("alpha/logged/main"))
    pushes = [p for p in registry.recent_pushes("alpha") if p.path == "logged/main"]
    assert [(p.old_revno, p.old_revision_id, p.new_revno) for p in pushes][0] == (
        2, first[-1], 3)
    assert _branches(store)["logged/main"]["revision_id"] == second[-1]

    # A refused anonymous push writes nothing to the log.
    brz.make_branch(work, revisions=1, start=3)
    refused = brz.run("push", "-d", work, store.reader_url("alpha/logged/main"), check=False)
    assert refused.returncode != 0
    assert len([p for p in registry.recent_pushes("alpha") if p.path == "logged/main"]) == 2
    registry.close()


def test_branch_listing_of_unknown_codebase_is_404(store):
    request = urllib.request.Request(store.url + "/bzr/nosuch/")
    try:
        urllib.request.urlopen(request)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    else:
        raise AssertionError("listing of an unknown codebase succeeded")
