"""Opening a branch to browse and naming its revisions (repos/browse.py, repos/history.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bzrstore.repos import history as history_module
from bzrstore.repos.browse import (
    UnknownBranch,
    open_location,
    parse_location,
    resolve_spec,
    tip_of,
)
from bzrstore.repos.history import history_at, history_of
from bzrstore.repos.names import InvalidName
from bzrstore.repos.revisions import InvalidRevision, UnknownRevision
from helpers import make_browse_history


@dataclass
class Browsed:
    """Codebase ``alpha`` with branch main/trunk (r1..r4, r3 merging s1, s2)."""

    root: Path
    revs: dict[str, str]

    def open(self, path: str = "alpha/main/trunk") -> Any:
        return open_location(self.root, parse_location(path))


@pytest.fixture(scope="module")
def browsed(tmp_path_factory: pytest.TempPathFactory) -> Browsed:
    root = tmp_path_factory.mktemp("browse") / "alpha"
    return Browsed(root, make_browse_history(root))


@pytest.mark.parametrize("path", ["alpha", "alpha/main", "alpha/main/trunk"])
def test_locations_of_up_to_two_names_parse(path: str) -> None:
    assert parse_location(path).path == path


@pytest.mark.parametrize("path", ["alpha/main/trunk/deeper", "alpha/../beta", "alpha/-",
                                  "alpha/.bzr", "Alpha", "alpha//trunk", "alpha/ma\x00in",
                                  "alpha/m%2fain", "alpha/main/trünk", "bzr/main"])
def test_bad_locations_are_refused_by_name(path: str) -> None:
    with pytest.raises(InvalidName):
        parse_location(path)


def test_a_branch_opens_read_only(browsed: Browsed) -> None:
    branch = browsed.open()
    assert tip_of(branch) == (4, browsed.revs["r4"].encode())
    assert branch.controldir.root_transport.is_readonly()


@pytest.mark.parametrize("path", ["alpha", "alpha/main", "alpha/main/nothing"])
def test_no_branch_is_unknown_branch(browsed: Browsed, path: str) -> None:
    with pytest.raises(UnknownBranch, match=f"no branch at {path}$"):
        browsed.open(path)


def test_a_missing_codebase_directory_is_unknown_branch(tmp_path: Path) -> None:
    with pytest.raises(UnknownBranch):
        open_location(tmp_path / "absent", parse_location("absent/main/trunk"))


def test_a_symlink_out_of_the_jail_is_no_branch(browsed: Browsed, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_browse_history(outside)
    link = browsed.root / "escape"
    os.symlink(outside / "main", link)
    try:
        with pytest.raises(UnknownBranch):
            browsed.open("alpha/escape/trunk")
    finally:
        link.unlink()


def test_a_branch_reference_is_not_followed(browsed: Browsed) -> None:
    from breezy.bzr.branch import BranchReferenceFormat
    from breezy.controldir import ControlDir

    target = browsed.root / "main" / "ref"
    controldir = ControlDir.create(str(target))
    BranchReferenceFormat().initialize(controldir, target_branch=_trunk(browsed))
    with pytest.raises(UnknownBranch):
        browsed.open("alpha/main/ref")


def _trunk(browsed: Browsed) -> Any:
    from breezy.branch import Branch

    return Branch.open(str(browsed.root / "main" / "trunk"))


@pytest.mark.parametrize(("spec", "name"), [("1", "r1"), ("4", "r4"), ("2.1.1", "s1"),
                                            ("2.1.2", "s2"), ("side/two+more", "s2"),
                                            ("side/two more", "s2")])
def test_revnos_dotted_revnos_and_ids_resolve(browsed: Browsed, spec: str, name: str) -> None:
    assert resolve_spec(browsed.open(), spec) == browsed.revs[name].encode()


def test_a_revision_id_by_itself_resolves(browsed: Browsed) -> None:
    revid = browsed.revs["r3"]
    assert resolve_spec(browsed.open(), revid) == revid.encode()


@pytest.mark.parametrize("spec", ["0", "5", "999999999", "3.1.1", "2.2.1", "null:", "nope",
                                  "1.2", "-1"])
def test_unknown_revisions_are_404s(browsed: Browsed, spec: str) -> None:
    with pytest.raises(UnknownRevision):
        resolve_spec(browsed.open(), spec)


@pytest.mark.parametrize("spec", ["", "a\x00b", "x" * 1025, "tab\there"])
def test_impossible_revisions_are_400s(browsed: Browsed, spec: str) -> None:
    with pytest.raises(InvalidRevision):
        resolve_spec(browsed.open(), spec)


def test_history_is_merge_sorted_with_dotted_revnos(browsed: Browsed) -> None:
    history = history_of(browsed.open())
    assert [(e.revno, e.depth) for e in history.entries] == [
        ("4", 0), ("3", 0), ("2.1.2", 1), ("2.1.1", 1), ("2", 0), ("1", 0)]
    assert history.mainline == [0, 1, 4, 5]
    assert [e.revno for e in history.merged_under(1)] == ["2.1.2", "2.1.1"]
    assert history.merged_under(0) == []
    assert history.revno(browsed.revs["s1"].encode()) == "2.1.1"
    assert history.revno(b"absent") is None


def test_history_is_computed_once_per_tip(browsed: Browsed, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    history_module.clear_cache()
    branch = browsed.open()
    first = history_of(branch)
    calls: list[bytes] = []
    monkeypatch.setattr(history_module, "_merge_sort",
                        lambda repository, tip: calls.append(tip) or first)
    assert history_of(browsed.open()) is first
    assert calls == []
    history_at(branch.repository, browsed.revs["r2"].encode())
    assert calls == [browsed.revs["r2"].encode()]


def test_the_history_cache_is_bounded(browsed: Browsed, monkeypatch: pytest.MonkeyPatch) -> None:
    history_module.clear_cache()
    monkeypatch.setattr(history_module._cache, "max_weight", 5)
    repository = browsed.open().repository
    for name in ("r1", "r2", "r3", "r4"):
        history_at(repository, browsed.revs[name].encode())
    # r3 (4 entries) and r4 (6) do not fit in 5 together: the newest alone is kept.
    assert (len(history_module._cache), history_module._cache.weight) == (1, 6)


def test_the_shared_repository_is_opened_once_per_thread(tmp_path: Path) -> None:
    import gc

    from breezy.repository import Repository

    root = tmp_path / "alpha"
    make_browse_history(root)
    first = open_location(root, parse_location("alpha/main/trunk"))
    gc.collect()
    before = sum(isinstance(o, Repository) for o in gc.get_objects())
    for _ in range(20):
        branch = open_location(root, parse_location("alpha/main/trunk"))
        assert branch.repository is first.repository
    gc.collect()
    # Breezy never frees a repository: opening one a request grew a worker without bound.
    assert sum(isinstance(o, Repository) for o in gc.get_objects()) == before


def test_a_kept_repository_sees_new_pushes(tmp_path: Path) -> None:
    from breezy.branch import Branch

    root = tmp_path / "alpha"
    make_browse_history(root)
    kept = open_location(root, parse_location("alpha/main/trunk")).repository
    trunk = Branch.open(str(root / "main" / "trunk"))
    tree = trunk.create_checkout(str(tmp_path / "co"), lightweight=True)
    (tmp_path / "co" / "new.txt").write_text("new\n")
    tree.add(["new.txt"])
    new = tree.commit("pushed later", committer="A <a@example.com>")
    branch = open_location(root, parse_location("alpha/main/trunk"))
    assert branch.repository is kept
    assert tip_of(branch) == (5, new)
    assert resolve_spec(branch, "5") == new
    assert history_of(branch).revno(new) == "5"


def test_a_branch_with_its_own_repository_uses_it(tmp_path: Path) -> None:
    from breezy.controldir import ControlDir

    from helpers import make_branch

    root = tmp_path / "alpha"
    make_browse_history(root)
    _, revids = make_branch(root / "own", revisions=2)  # standalone: its own repository
    shared = open_location(root, parse_location("alpha/main/trunk")).repository
    branch = open_location(root, parse_location("alpha/own"))
    assert branch.repository is not shared
    assert tip_of(branch) == (2, revids[1].encode())
    assert ControlDir.open(str(root / "own")).open_repository().has_revision(revids[0].encode())
