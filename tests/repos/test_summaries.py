"""Who, when and what of some revisions (``repos/summaries.py``), cached per process."""

from __future__ import annotations

from typing import Any

import pytest

from bzrstore.repos import summaries
from bzrstore.repos.revisions import open_repository
from bzrstore.repos.summaries import summarize
from helpers import make_browse_history


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("summaries") / "alpha"
    revs = make_browse_history(root)
    return open_repository(root), {name: revid.encode() for name, revid in revs.items()}


def test_summaries_hold_author_time_and_first_line(history):
    repository, revs = history
    found = summarize(repository, [revs["r1"], revs["s2"], revs["r1"]])
    assert set(found) == {revs["r1"], revs["s2"]}
    first = found[revs["r1"]]
    assert first.summary == "initial import"  # the body after the blank line is left out
    assert first.author == "Test Worker <worker@example.com>"
    assert first.timestamp == 1_700_000_000 and first.timezone == 3600


def test_ghosts_are_left_out(history):
    repository, revs = history
    assert set(summarize(repository, [revs["r2"], b"no-such-revision"])) == {revs["r2"]}


def test_long_first_lines_are_cut(history, monkeypatch):
    repository, revs = history
    summaries._cache.clear()
    monkeypatch.setattr(summaries, "MAX_SUMMARY_CHARS", 5)
    assert summarize(repository, [revs["r2"]])[revs["r2"]].summary == "say …"
    summaries._cache.clear()


def test_a_second_ask_reads_nothing(history, monkeypatch):
    repository, revs = history
    summarize(repository, [revs["r3"]])

    def never(*args: Any) -> None:
        raise AssertionError("read the repository again")

    monkeypatch.setattr(summaries, "_read", never)
    assert summarize(repository, [revs["r3"]])[revs["r3"]].summary == "merge the side"
