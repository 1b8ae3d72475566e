"""Annotate within a budget, cached by file text (``repos/annotate.py``, its cache)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bzrstore.repos import annotate as annotate_module
from bzrstore.repos.annotate import annotate_file, cache_key
from bzrstore.repos.line_cache import LineCache
from bzrstore.repos.revisions import InvalidRevision, open_repository
from bzrstore.repos.trees import NoSuchPath, WrongKind
from helpers import make_browse_history


@dataclass
class Annotated:
    """h12a's browse history: r1..r4 on main/trunk, r3 merging s1 and s2."""

    repository: Any
    revs: dict[str, bytes]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Annotated:
    root = tmp_path_factory.mktemp("annotate") / "alpha"
    revs = make_browse_history(root)
    return Annotated(open_repository(root), {k: v.encode() for k, v in revs.items()})


@pytest.fixture
def cache(tmp_path: Path) -> LineCache:
    return LineCache(tmp_path / "run" / "line-cache.sqlite3")


def test_each_line_names_the_revision_that_last_changed_it(history: Annotated, cache):
    result = annotate_file(history.repository, history.revs["r4"], "hello.py", cache, "alpha")
    r1, r2 = history.revs["r1"], history.revs["r2"]
    assert result.lines == [(r1, b"def hello():\n"), (r2, b'    return "hello, world"\n'),
                            (r2, b"\n"), (r2, b"\n"), (r2, b"X = 1\n")]
    assert result.reason is None and not result.cached


def test_lines_from_a_merged_branch_name_the_merged_revision(history: Annotated, cache):
    result = annotate_file(history.repository, history.revs["r4"], "dir/a.txt", cache, "alpha")
    assert [revid for revid, _ in result.lines] == [
        history.revs["r1"], history.revs["r1"], history.revs["s1"]]


def test_at_an_older_revision(history: Annotated, cache):
    result = annotate_file(history.repository, history.revs["r1"], "hello.py", cache, "alpha")
    assert {revid for revid, _ in result.lines} == {history.revs["r1"]}


def test_the_second_time_comes_from_the_cache(history: Annotated, cache, monkeypatch):
    first = annotate_file(history.repository, history.revs["r4"], "README", cache, "alpha")

    def never(*args: Any) -> None:
        raise AssertionError("annotated again")

    monkeypatch.setattr(annotate_module, "_annotate", never)
    again = annotate_file(history.repository, history.revs["r4"], "README", cache, "alpha")
    assert again.cached and again.lines == first.lines
    # Another process (a fresh cache on the same file) finds it on disk.
    shared = LineCache(cache.path)
    assert annotate_file(history.repository, history.revs["r4"], "README", shared,
                         "alpha").lines == first.lines


def test_the_key_is_the_file_text_so_revisions_that_did_not_touch_it_share_it(
        history: Annotated, cache, monkeypatch):
    annotate_file(history.repository, history.revs["r2"], "hello.py", cache, "alpha")
    monkeypatch.setattr(annotate_module, "_annotate", None)  # any computation fails
    # hello.py last changed in r2: r3 and r4 show the same text.
    assert annotate_file(history.repository, history.revs["r4"], "hello.py", cache,
                         "alpha").cached


def test_the_key_holds_the_codebase():
    assert cache_key("alpha", b"f", b"r") != cache_key("beta", b"f", b"r")
    assert cache_key("a", b"bf", b"r") != cache_key("ab", b"f", b"r")  # no run-together


def test_binary_and_large_files_are_not_annotated(history: Annotated, cache):
    binary = annotate_file(history.repository, history.revs["r4"], "data.bin", cache, "alpha")
    assert binary.lines == [] and binary.reason == "a binary file"
    large = annotate_file(history.repository, history.revs["r4"], "hello.py", cache, "alpha",
                          max_bytes=10)
    assert large.lines == [] and large.reason == "larger than 10 bytes"


def test_a_cold_annotate_stops_at_its_deadline(history: Annotated, cache):
    result = annotate_file(history.repository, history.revs["r4"], "hello.py", cache, "alpha",
                           timeout_seconds=-1)
    assert result.lines == [] and result.reason == "took longer than -1 seconds"
    assert cache.get(cache_key("alpha", *_text_key(history, "hello.py"))) is None


def test_paths_are_checked(history: Annotated, cache):
    with pytest.raises(InvalidRevision):
        annotate_file(history.repository, history.revs["r4"], "../x", cache, "alpha")
    with pytest.raises(NoSuchPath):
        annotate_file(history.repository, history.revs["r4"], "nosuch", cache, "alpha")
    with pytest.raises(WrongKind):
        annotate_file(history.repository, history.revs["r4"], "dir", cache, "alpha")


def test_a_stale_entry_of_the_wrong_length_is_recomputed(history: Annotated, cache):
    first = annotate_file(history.repository, history.revs["r4"], "hello.py", cache, "alpha")
    key = cache_key("alpha", *_text_key(history, "hello.py"))
    cache.put(key, [b"x"])
    again = annotate_file(history.repository, history.revs["r4"], "hello.py", cache, "alpha")
    assert again.lines == first.lines and not again.cached


def _text_key(history: Annotated, path: str) -> tuple[bytes, bytes]:
    with history.repository.lock_read():
        tree = history.repository.revision_tree(history.revs["r4"])
        return tree.path2id(path), tree.get_file_revision(path)
