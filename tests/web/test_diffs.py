"""Diffs and revision info: the API compared with ``brz diff`` and ``brz log`` on real history."""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from breezy.controldir import ControlDir
from webtest import TestApp

from bzrstore import create_app
from bzrstore.config import load_settings
from bzrstore.repos import diffs, revisions
from helpers import make_app, starts_processes, store_of
from servers import BIN, Brz

COMMITTER = "Test Worker <worker@example.com>"
BINARY = bytes(range(256)) * 4
BIG_LINES = 20000


@dataclass
class History:
    """A branch pushed to codebase ``alpha``, its working copy and named revisions."""

    web: TestApp
    work: Path
    brz: Brz
    revs: dict[str, str]
    messages: dict[str, str]

    @property
    def data(self) -> Path:
        return self.web.app.extensions["bzrstore"].settings.data


def commit(tree, history: dict[str, str], messages: dict[str, str], name: str, message: str,
           rev_id: str | None = None) -> None:
    """Commit ``tree`` and remember the revision as ``name``."""
    revid = tree.commit(message, committer=COMMITTER, rev_id=rev_id and rev_id.encode())
    history[name] = revid.decode()
    messages[revid.decode()] = message


def build_history(work: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Edits, adds, deletes, renames, binary and non-ASCII files, and a merge."""
    revs: dict[str, str] = {}
    messages: dict[str, str] = {}
    tree = ControlDir.create_standalone_workingtree(str(work))
    (work / "dir" / "sub").mkdir(parents=True)
    (work / "hello.txt").write_text("".join(f"line {n}\n" for n in range(10)))
    (work / "dir" / "a.txt").write_text("alpha\nbeta\n")
    (work / "dir" / "sub" / "deep.txt").write_text("deep\n")
    (work / "data.bin").write_bytes(BINARY)
    (work / "ünïcödé.txt").write_text("grüße\n")
    (work / "keep.txt").write_text("to be deleted\n")
    (work / "big.txt").write_text("".join(f"big {n}\n" for n in range(BIG_LINES)))
    tree.add(["hello.txt", "dir", "dir/a.txt", "dir/sub", "dir/sub/deep.txt", "data.bin",
              "ünïcödé.txt", "keep.txt", "big.txt"])
    commit(tree, revs, messages, "r1", "initial import", "worker@example.com-base+1")

    (work / "hello.txt").write_text("".join(f"line {n}\n" for n in range(10)).replace("5", "V"))
    (work / "new.txt").write_text("brand new\n")
    (work / "big.txt").write_text("".join(f"BIG {n}\n" for n in range(BIG_LINES)))
    tree.add(["new.txt"])
    tree.remove(["keep.txt"], keep_files=False)
    commit(tree, revs, messages, "r2", "edit, add, delete")

    side = tree.controldir.sprout(str(work.parent / "side")).open_workingtree()
    (work.parent / "side" / "dir" / "sub" / "deep.txt").write_text("deeper\n")
    commit(side, revs, messages, "s1", "side: deepen")
    (work.parent / "side" / "side.txt").write_text("from the side\n")
    side.add(["side.txt"])
    commit(side, revs, messages, "s2", "side: add a file")

    tree.rename_one("dir/a.txt", "dir/b.txt")
    (work / "dir" / "b.txt").write_text("alpha\nbeta\ngamma\n")
    (work / "data.bin").write_bytes(BINARY[::-1])
    (work / "ünïcödé.txt").write_text("grüße, welt\n")
    commit(tree, revs, messages, "r3", "rename and binary", "worker@example.com-re+name")

    tree.merge_from_branch(side.branch)
    commit(tree, revs, messages, "r4", "Merge side — ünïcode message")

    tree.rename_one("ünïcödé.txt", "ça va.txt")
    (work / "hello.txt").write_text("just one line\n")
    commit(tree, revs, messages, "r5", "rename to another non-ASCII name\n\nwith a body")
    return revs, messages


@pytest.fixture(scope="module")
@starts_processes
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """History built once, pushed into codebase ``alpha``; ``beta`` registered but empty."""
    root = tmp_path_factory.mktemp("diff")
    brz = Brz(root / "home")
    app = make_app(root / "data")
    store = store_of(app)
    store.registry.add_codebase("alpha")
    store.registry.add_codebase("beta")
    store.storage.ensure_repository("alpha")
    revs, messages = build_history(root / "work")
    brz.run("push", "-q", "--create-prefix", "-d", root / "work",
            store.storage.codebase_dir("alpha") / "c" / "main")
    return History(TestApp(app), root / "work", brz, revs, messages)


TIMESTAMP = re.compile(rb"^((?:---|\+\+\+) [^\t\n]*)\t[^\n]*$", re.MULTILINE)


def strip_timestamps(diff: bytes) -> bytes:
    """``diff`` without the timestamps of its ``---``/``+++`` header lines."""
    return TIMESTAMP.sub(rb"\1", diff)


def brz_diff(history: History, old: str, new: str, *paths: str) -> bytes:
    """What ``brz diff -r revid:OLD..revid:NEW [paths]`` prints on the branch."""
    result = subprocess.run(
        [str(BIN / "brz"), "diff", "-r", f"revid:{old}..revid:{new}", *paths],
        cwd=history.work, env=history.brz.env(), capture_output=True, timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def api_diff(history: History, old: str, new: str, path: str | None = None) -> bytes:
    """The body of ``GET /alpha/diff`` for these (properly encoded) parameters."""
    url = f"/alpha/diff?old={quote(old, safe='')}&new={quote(new, safe='')}"
    if path is not None:
        url += f"&path={quote(path, safe='')}"
    response = history.web.get(url)
    assert response.status_int == 200
    assert response.content_type == "text/x-diff"
    return response.body


@pytest.mark.parametrize(("old", "new", "marker"), [
    ("r1", "r2", b"=== removed file 'keep.txt'"),
    ("r2", "r3", b"=== renamed file 'dir/a.txt' => 'dir/b.txt'"),
    ("r2", "r3", b"Binary files old/data.bin"),
    ("r3", "r4", b"=== added file 'side.txt'"),
    ("r4", "r5", "=== renamed file 'ünïcödé.txt' => 'ça va.txt'".encode()),
    ("r1", "r5", b"=== added file 'new.txt'"),
    ("r5", "r1", b"=== modified file 'hello.txt'"),
    ("s2", "r5", b"=== modified file 'hello.txt'"),
])
def test_diff_equals_brz_diff(history: History, old: str, new: str, marker: bytes):
    old_id, new_id = history.revs[old], history.revs[new]
    ours = api_diff(history, old_id, new_id)
    assert marker in ours
    assert strip_timestamps(ours) == strip_timestamps(brz_diff(history, old_id, new_id))


def test_diff_from_null_is_the_whole_tree(history: History):
    ours = api_diff(history, "null:", history.revs["r1"])
    assert b"=== added file 'hello.txt'" in ours
    assert strip_timestamps(ours) == strip_timestamps(
        brz_diff(history, "null:", history.revs["r1"]))


@pytest.mark.parametrize(("old", "new", "path"), [
    ("r2", "r5", "dir"), ("r2", "r5", "dir/b.txt"), ("r2", "r5", "hello.txt"),
    ("r2", "r5", "ça va.txt"), ("r2", "r5", "ünïcödé.txt"), ("r1", "r2", "keep.txt"),
    ("r5", "r2", "ça va.txt"), ("r1", "r4", "dir/sub"),
])
def test_path_filter_equals_brz_diff(history: History, old: str, new: str, path: str):
    old_id, new_id = history.revs[old], history.revs[new]
    ours = api_diff(history, old_id, new_id, path)
    assert ours
    assert strip_timestamps(ours) == strip_timestamps(brz_diff(history, old_id, new_id, path))


def test_same_revision_is_an_empty_diff(history: History):
    assert api_diff(history, history.revs["r3"], history.revs["r3"]) == b""


def test_unencoded_plus_in_revision_ids_is_accepted(history: History):
    old_id, new_id = history.revs["r1"], history.revs["r3"]
    assert "+" in old_id and "+" in new_id
    response = history.web.get(f"/alpha/diff?old={old_id}&new={new_id}")
    assert response.status_int == 200
    assert response.body == api_diff(history, old_id, new_id)


def test_large_diff_streams_in_several_chunks(history: History):
    repository = revisions.open_repository(history.data / "repos" / "alpha")
    old = revisions.resolve_revision(repository, history.revs["r1"])
    new = revisions.resolve_revision(repository, history.revs["r2"])
    chunks = list(diffs.write_diff(repository, old, new))
    assert len(chunks) > 2
    assert max(map(len, chunks)) < 2 * diffs.DIFF_CHUNK_BYTES
    expected = brz_diff(history, history.revs["r1"], history.revs["r2"])
    assert strip_timestamps(b"".join(chunks)) == strip_timestamps(expected)


def test_size_guard_ends_the_diff_with_a_message(history: History):
    settings = load_settings(environ={}, data=history.data, diff_max_bytes=1000)
    web = TestApp(create_app(settings))
    response = web.get(f"/alpha/diff?old=null:&new={quote(history.revs['r2'])}")
    assert response.status_int == 200
    assert response.body.endswith(b"\n# bzrstore: diff stopped: larger than 1000 bytes\n")
    assert len(response.body) < 1100


def test_time_guard_ends_a_stuck_diff(history: History, monkeypatch: pytest.MonkeyPatch):
    release = threading.Event()
    finished = threading.Event()

    def stuck(old_tree, new_tree, to_file, *args):
        to_file.write(b"=== partial")
        to_file.flush()
        release.wait(10)
        try:
            to_file.write(b"x" * (2 * diffs.DIFF_CHUNK_BYTES))  # the reader is gone: stops
        finally:
            finished.set()

    monkeypatch.setattr(diffs, "show_tree_diff", stuck)
    repository = revisions.open_repository(history.data / "repos" / "alpha")
    old = revisions.resolve_revision(repository, history.revs["r1"])
    new = revisions.resolve_revision(repository, history.revs["r2"])
    limits = diffs.DiffLimits(timeout_seconds=0.2)
    body = b"".join(diffs.write_diff(repository, old, new, limits=limits))
    assert body == b"=== partial\n# bzrstore: diff stopped: took longer than 0.2 seconds\n"
    release.set()
    assert finished.wait(10)


@pytest.mark.parametrize("query", [
    "", "?old=null:", "?new=null:", "?old=&new=null:", "?old=null:&new=a%0Ab",
    "?old=null:&new=null:&path=../etc", "?old=null:&new=null:&path=a//b",
])
def test_bad_parameters_are_400(history: History, query: str):
    response = history.web.get(f"/alpha/diff{query}", expect_errors=True)
    assert response.status_int == 400
    assert response.content_type == "text/plain"


@pytest.mark.parametrize(("url", "message"), [
    ("/gamma/diff?old=null:&new=null:", "no such codebase: gamma"),
    ("/alpha/diff?old=null:&new=nosuchrev", "no such revision: nosuchrev"),
    ("/alpha/diff?old=nosuchrev&new=null:", "no such revision: nosuchrev"),
    ("/beta/diff?old=null:&new=worker@example.com-base%2B1", "no such revision"),
    ("/alpha/diff?old=null:&new=worker@example.com-base%2B1&path=nowhere", "no such path"),
])
def test_unknown_codebase_revision_or_path_is_404(history: History, url: str, message: str):
    response = history.web.get(url, expect_errors=True)
    assert response.status_int == 404
    assert message in response.text


def test_invalid_codebase_name_is_400(history: History):
    response = history.web.get("/Alpha/diff?old=null:&new=null:", expect_errors=True)
    assert response.status_int == 400


# --- revision info -------------------------------------------------------------------


def left_hand_history(history: History) -> list[str]:
    """The branch's own left-hand history, oldest first, as ``brz log`` tells it."""
    return history.brz.revision_ids(history.work)


def revision_info(history: History, old: str, new: str) -> list[dict]:
    url = f"/alpha/revision-info?old={quote(old, safe='')}&new={quote(new, safe='')}"
    response = history.web.get(url)
    assert response.status_int == 200
    assert response.content_type == "application/json"
    return response.json


@pytest.mark.parametrize(("old", "start"), [("null:", 0), ("r1", 1), ("r2", 2), ("r4", 4)])
def test_revision_info_is_the_left_hand_history(history: History, old: str, start: int):
    lefthand = left_hand_history(history)
    assert lefthand == [history.revs[n] for n in ("r1", "r2", "r3", "r4", "r5")]
    old_id = history.revs.get(old, old)
    entries = revision_info(history, old_id, lefthand[-1])
    expected = list(reversed(lefthand[start:]))
    assert [e["revision-id"] for e in entries] == expected
    for entry in entries:
        assert entry["revision_id"] == entry["revision-id"]
        assert entry["message"] == history.messages[entry["revision-id"]]
        assert entry["commit_id"] is None


def test_revision_info_leaves_out_the_ancestry_of_old(history: History):
    """From a merged side branch: r3..r5 only, not r2 (which the side branch has)."""
    entries = revision_info(history, history.revs["s2"], history.revs["r5"])
    assert [e["revision-id"] for e in entries] == [history.revs[n] for n in ("r5", "r4", "r3")]


def test_revision_info_same_or_older_revision_is_empty(history: History):
    assert revision_info(history, history.revs["r3"], history.revs["r3"]) == []
    assert revision_info(history, history.revs["r5"], history.revs["r2"]) == []


def test_revision_info_links_show_the_revision(history: History):
    entries = revision_info(history, history.revs["r2"], history.revs["r3"])
    link = entries[0]["link"]
    assert link.startswith("http://localhost/alpha/diff?")
    response = history.web.get(link)
    assert response.status_int == 200
    assert b"=== renamed file 'dir/a.txt' => 'dir/b.txt'" in response.body


def test_revision_info_accepts_unencoded_plus(history: History):
    response = history.web.get(
        f"/alpha/revision-info?old={history.revs['r1']}&new={history.revs['r3']}")
    assert [e["revision-id"] for e in response.json] == [history.revs["r3"], history.revs["r2"]]


@pytest.mark.parametrize(("url", "status", "error"), [
    ("/alpha/revision-info?old=null:&new=nosuchrev", 404, "no such revision: nosuchrev"),
    ("/gamma/revision-info?old=null:&new=null:", 404, "no such codebase: gamma"),
    ("/alpha/revision-info?old=null:", 400, "both 'old' and 'new' revision ids are required"),
])
def test_revision_info_errors_are_json(history: History, url: str, status: int, error: str):
    response = history.web.get(url, expect_errors=True)
    assert response.status_int == status
    assert response.content_type == "application/json"
    assert response.json == {"error": error, "status": status}


def test_diff_settings_are_read_from_the_environment():
    settings = load_settings(environ={"BZRSTORE_DIFF_TIMEOUT_SECONDS": "2.5",
                                      "BZRSTORE_DIFF_MAX_BYTES": "4096"})
    assert (settings.diff_timeout_seconds, settings.diff_max_bytes) == (2.5, 4096)
    assert load_settings(environ={}).diff_max_bytes == 200 * 1024**2



def open_revisions(history: History, old: str, new: str):
    """The repository of ``alpha`` and two resolved revision ids."""
    repository = revisions.open_repository(history.data / "repos" / "alpha")
    return (repository, revisions.resolve_revision(repository, history.revs[old]),
            revisions.resolve_revision(repository, history.revs[new]))


def test_a_failing_diff_ends_with_a_message(history: History, monkeypatch: pytest.MonkeyPatch):
    def broken(old_tree, new_tree, to_file, *args):
        to_file.write(b"=== start\n")
        raise RuntimeError("boom")

    monkeypatch.setattr(diffs, "show_tree_diff", broken)
    body = b"".join(diffs.write_diff(*open_revisions(history, "r1", "r2")))
    assert body == b"=== start\n# bzrstore: diff stopped: internal error\n"


def test_closing_the_stream_stops_the_diff_thread(history: History):
    chunks = diffs.write_diff(*open_revisions(history, "r1", "r2"))
    assert next(chunks)
    chunks.close()
    for thread in threading.enumerate():
        if thread.name == "bzrstore-diff":
            thread.join(5)
            assert not thread.is_alive()


def test_revision_info_pages_with_a_link_header(history: History,
                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(revisions, "MAX_REVISION_INFO_ENTRIES", 2)
    for old, pages in [("null:", [["r5", "r4"], ["r3", "r2"], ["r1"]]),
                       (history.revs["s2"], [["r5", "r4"], ["r3"]])]:
        url = f"/alpha/revision-info?old={quote(old, safe='')}&new={history.revs['r5']}"
        seen = []
        for _ in range(len(pages)):
            response = history.web.get(url)
            seen.append([e["revision-id"] for e in response.json])
            url = response.headers.get("Link", "").removeprefix("<").partition(">")[0]
        assert seen == [[history.revs[name] for name in page] for page in pages]
        assert url == ""


def test_files_over_the_size_limit_are_shown_as_binary(history: History):
    settings = load_settings(environ={"BZRSTORE_DIFF_MAX_FILE_BYTES": "1000"}, data=history.data)
    web = TestApp(create_app(settings))
    body = web.get(f"/alpha/diff?old={quote(history.revs['r1'])}"
                   f"&new={quote(history.revs['r2'])}").body
    assert b"=== modified file 'big.txt'\nBinary files old/big.txt and new/big.txt differ\n" in body
    assert b"+line V\n" in body  # small files are still diffed
