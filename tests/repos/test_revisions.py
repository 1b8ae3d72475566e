"""Resolving revision ids and walking history (``repos/revisions.py``), without HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from breezy.controldir import ControlDir
from breezy.revision import NULL_REVISION

from bzrstore.repos import revisions
from bzrstore.repos.revisions import (
    InvalidRevision,
    UnknownRevision,
    check_path,
    open_repository,
    resolve_revision,
    revision_info,
)
from bzrstore.repos.storage import create_shared_repository

COMMITTER = "Test Worker <worker@example.com>"


@dataclass
class History:
    """A shared repository holding trunk r1..r4, where r3 merges side s1..s2."""

    repository: Any
    revs: dict[str, bytes]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("revisions") / "alpha"
    create_shared_repository(root)
    trunk = ControlDir.create_branch_convenience(str(root / "trunk"), force_new_tree=False)
    work = trunk.create_checkout(str(root.parent / "work"), lightweight=True)
    revs: dict[str, bytes] = {}

    def commit(tree: Any, name: str, rev_id: str | None = None) -> None:
        (Path(tree.basedir) / "file.txt").write_text(f"{name}\n")
        if not tree.is_versioned("file.txt"):
            tree.add(["file.txt"])
        revs[name] = tree.commit(f"message {name}", committer=COMMITTER,
                                 rev_id=rev_id and rev_id.encode())

    commit(work, "r1", "worker@example.com-base+1")
    commit(work, "r2")
    side = work.branch.controldir.sprout(str(root / "side")).open_branch()
    side_work = side.create_checkout(str(root.parent / "side-work"), lightweight=True)
    commit(side_work, "s1")
    commit(side_work, "s2", "side+two")
    work.merge_from_branch(side)
    commit(work, "r3")
    commit(work, "r4")
    return History(open_repository(root), revs)


def test_resolve_revision_exact_and_null(history: History):
    revid = history.revs["r2"].decode()
    assert resolve_revision(history.repository, revid) == history.revs["r2"]
    assert resolve_revision(history.repository, "null:") == NULL_REVISION


def test_resolve_revision_takes_a_space_for_a_plus(history: History):
    assert resolve_revision(history.repository, "worker@example.com-base 1") == (
        b"worker@example.com-base+1")
    assert resolve_revision(history.repository, "side two") == b"side+two"


@pytest.mark.parametrize("revid", ["", "x" * 1025, "a\nb", "a\x7fb", "bad\udcff"])
def test_resolve_revision_refuses_invalid_ids(history: History, revid: str):
    with pytest.raises(InvalidRevision):
        resolve_revision(history.repository, revid)


def test_resolve_revision_unknown(history: History):
    with pytest.raises(UnknownRevision, match="no such revision: nosuchrev"):
        resolve_revision(history.repository, "nosuchrev")
    with pytest.raises(UnknownRevision):  # neither the id with a space nor with a '+'
        resolve_revision(history.repository, "worker@example.com-base 2")


@pytest.mark.parametrize(("path", "expected"), [
    ("dir/file.txt", "dir/file.txt"), ("/dir/", "dir"), ("ça va.txt", "ça va.txt"),
])
def test_check_path_accepts_tree_paths(path: str, expected: str):
    assert check_path(path) == expected


@pytest.mark.parametrize("path", ["../etc", "a//b", "a/./b", "a/../b", "a\tb", "x" * 4097])
def test_check_path_refuses(path: str):
    with pytest.raises(InvalidRevision):
        check_path(path)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["revision-id"] for entry in entries]


def names(history: History, *which: str) -> list[str]:
    return [history.revs[name].decode() for name in which]


def test_revision_info_walks_the_left_hand_history(history: History):
    entries, following = revision_info(history.repository, NULL_REVISION, history.revs["r4"])
    assert ids(entries) == names(history, "r4", "r3", "r2", "r1")
    assert following is None
    assert entries[0] == {"revision-id": history.revs["r4"].decode(),
                          "revision_id": history.revs["r4"].decode(), "message": "message r4",
                          "link": None, "commit_id": None}


def test_revision_info_from_an_earlier_tip(history: History):
    entries, _ = revision_info(history.repository, history.revs["r2"], history.revs["r4"])
    assert ids(entries) == names(history, "r4", "r3")
    assert revision_info(history.repository, history.revs["r4"], history.revs["r2"]) == ([], None)
    assert revision_info(history.repository, history.revs["r2"], NULL_REVISION) == ([], None)


def test_revision_info_from_a_merged_side_branch(history: History):
    """s2's ancestry holds r1 and r2: only r4 and r3 are new; side revisions never listed."""
    entries, _ = revision_info(history.repository, history.revs["s2"], history.revs["r4"])
    assert ids(entries) == names(history, "r4", "r3")


def test_revision_info_links_name_the_left_parent(history: History):
    seen: list[tuple[bytes, bytes]] = []

    def link(revid: bytes, parent: bytes) -> str:
        seen.append((revid, parent))
        return f"diff/{parent.decode()}..{revid.decode()}"

    entries, _ = revision_info(history.repository, NULL_REVISION, history.revs["r3"], link)
    assert seen == [(history.revs["r3"], history.revs["r2"]),
                    (history.revs["r2"], history.revs["r1"]), (history.revs["r1"], NULL_REVISION)]
    assert entries[-1]["link"] == f"diff/null:..{history.revs['r1'].decode()}"


@pytest.mark.parametrize("old", ["null", "s2"])
def test_revision_info_pages_with_following(history: History, old: str):
    old_revid = NULL_REVISION if old == "null" else history.revs[old]
    pages, new = [], history.revs["r4"]
    while new is not None:
        entries, new = revision_info(history.repository, old_revid, new, limit=2)
        pages.append(ids(entries))
    expected = ([names(history, "r4", "r3"), names(history, "r2", "r1")] if old == "null"
                else [names(history, "r4", "r3")])
    assert pages == expected


def test_revision_info_says_where_to_continue(history: History):
    assert revisions.MAX_REVISION_INFO_ENTRIES == 10_000  # the default limit
    entries, following = revision_info(history.repository, NULL_REVISION, history.revs["r4"],
                                       limit=3)
    assert len(entries) == 3 and following == history.revs["r1"]
