"""Lines kept once computed (``repos/line_cache.py``): in memory and in a shared file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bzrstore.repos import line_cache
from bzrstore.repos.line_cache import LineCache, decode, encode, line_key


def test_encoding_round_trips():
    assert decode(encode([b"a", b"b", b"a"])) == [b"a", b"b", b"a"]
    assert decode(encode([])) == []


def test_keys_do_not_run_together():
    assert line_key("a", b"bc") != line_key("ab", b"c")
    assert line_key("x", "é") == line_key("x", "é".encode())


def test_a_second_process_finds_what_the_first_stored(tmp_path: Path):
    LineCache(tmp_path / "c.sqlite3").put("k", [b"one", b"two"])
    assert LineCache(tmp_path / "c.sqlite3").get("k") == [b"one", b"two"]
    assert LineCache(tmp_path / "c.sqlite3").get("other") is None


def test_memory_is_bounded_and_least_recently_used_goes_first():
    size = len(encode([b"1"]))
    cache = LineCache(None, max_memory_bytes=2 * size)
    cache.put("a", [b"1"])
    cache.put("b", [b"2"])
    assert cache.get("a") == [b"1"]
    cache.put("c", [b"3"])
    assert cache.get("b") is None and cache.get("a") == [b"1"] and cache.get("c") == [b"3"]


def test_the_file_drops_its_oldest_rows_past_its_size(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(line_cache, "TRIM_EVERY_PUTS", 4)
    cache = LineCache(tmp_path / "c.sqlite3", max_disk_bytes=1, max_memory_bytes=1)
    for n in range(8):
        cache.put(f"k{n}", [b"r"])
    rows = sqlite3.connect(tmp_path / "c.sqlite3").execute(
        "SELECT key FROM line_cache ORDER BY rowid").fetchall()
    # Each trim drops the oldest quarter and one more: k0, k1 at the 4th put, k2, k3 at the 8th.
    assert [key for (key,) in rows] == ["k4", "k5", "k6", "k7"]


def test_an_unusable_file_only_costs_the_cache(tmp_path: Path, caplog):
    (tmp_path / "run").write_text("a file where the directory should be")
    cache = LineCache(tmp_path / "run" / "c.sqlite3", max_memory_bytes=1)
    cache.put("a", [b"1"])  # logged, not raised
    cache.put("b", [b"2"])
    assert cache.get("a") is None and cache.get("b") == [b"2"]
    assert "lines not cached" in caplog.text
