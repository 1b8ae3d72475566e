"""The tree at a revision (``repos/trees.py``): listings, file texts, raw bytes, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from breezy.revision import NULL_REVISION

from bzrstore.repos import trees
from bzrstore.repos.revisions import InvalidRevision, UnknownRevision
from bzrstore.repos.trees import NoSuchPath, WrongKind, list_directory, read_file, stream_file
from helpers import BROWSE_BINARY, Browsed


def names(listing: trees.DirectoryListing) -> list[str]:
    return [entry.name for entry in listing.entries]


def test_root_lists_directories_first_then_files_by_name(browsed: Browsed):
    listing = list_directory(browsed.repository, browsed.revids[-1], "")
    assert names(listing) == ["src", "README.txt", "data.bin", "empty.txt", "link",
                              "no-newline.txt", "ünïcode näme.txt"]
    assert not listing.truncated and listing.total == 7
    by_name = {entry.name: entry for entry in listing.entries}
    assert by_name["src"].kind == "directory" and by_name["src"].size is None
    assert by_name["data.bin"].size == len(BROWSE_BINARY)
    assert by_name["link"].kind == "symlink" and by_name["link"].target == "README.txt"
    assert by_name["README.txt"].path == "README.txt"


def test_entries_carry_the_revision_that_last_changed_them(browsed: Browsed):
    first, _, last = browsed.revids
    root = {e.name: e for e in list_directory(browsed.repository, last, "").entries}
    assert root["README.txt"].last_changed == last  # rewritten every revision
    assert root["data.bin"].last_changed == first  # written once


def test_subdirectory_paths_and_executable_bit(browsed: Browsed):
    listing = list_directory(browsed.repository, browsed.revids[-1], "/src/")
    assert listing.path == "src"
    assert [(e.path, e.kind) for e in listing.entries] == [
        ("src/lib", "directory"), ("src/main.py", "file")]
    assert listing.entries[1].executable


def test_listing_at_an_older_revision(browsed: Browsed):
    listing = list_directory(browsed.repository, browsed.revids[0], "src")
    main = listing.entries[1]
    assert main.size == len("# the main program\nprint(0)\n")


def test_listing_is_cut_at_its_limit_and_says_so(browsed: Browsed):
    listing = list_directory(browsed.repository, browsed.revids[-1], "", limit=3)
    assert names(listing) == ["src", "README.txt", "data.bin"]
    assert listing.truncated and listing.total == 7


@pytest.mark.parametrize("path", ["nosuch", "src/nosuch", "README.txt/x"])
def test_missing_paths_are_no_such_path(browsed: Browsed, path: str):
    with pytest.raises(NoSuchPath, match="no such path"):
        list_directory(browsed.repository, browsed.revids[-1], path)
    with pytest.raises(NoSuchPath):
        read_file(browsed.repository, browsed.revids[-1], path)
    assert issubclass(NoSuchPath, UnknownRevision)  # so the web layer answers 404


@pytest.mark.parametrize("path", ["../x", "src/../README.txt", "a//b", "a\x00b", "x\ny",
                                  "./src", "x" * 4097])
def test_hostile_paths_are_refused_before_any_lookup(browsed: Browsed, path: str):
    with pytest.raises(InvalidRevision):
        list_directory(browsed.repository, browsed.revids[-1], path)
    with pytest.raises(InvalidRevision):
        stream_file(browsed.repository, browsed.revids[-1], path)


def test_wrong_kinds(browsed: Browsed):
    with pytest.raises(WrongKind, match="not a directory: README.txt") as exc:
        list_directory(browsed.repository, browsed.revids[-1], "README.txt")
    assert exc.value.kind == "file"
    with pytest.raises(WrongKind, match="not a file: src") as exc:
        read_file(browsed.repository, browsed.revids[-1], "src")
    assert exc.value.kind == "directory"
    with pytest.raises(WrongKind):
        stream_file(browsed.repository, browsed.revids[-1], "link")


def test_the_empty_revision_has_an_empty_root_and_nothing_else(browsed: Browsed):
    listing = list_directory(browsed.repository, NULL_REVISION, "")
    assert listing.entries == [] and listing.total == 0
    with pytest.raises(UnknownRevision, match="null:"):
        list_directory(browsed.repository, NULL_REVISION, "src")
    with pytest.raises(UnknownRevision, match="null:"):
        read_file(browsed.repository, NULL_REVISION, "README.txt")


def test_read_text_file(browsed: Browsed):
    text = read_file(browsed.repository, browsed.revids[-1], "src/main.py")
    assert text.text == b"# the main program\nprint(0)\nprint(1)\nprint(2)\n"
    assert text.shown and not text.truncated and not text.binary
    assert text.entry.executable and text.entry.last_changed == browsed.revids[-1]


def test_read_at_an_older_revision(browsed: Browsed):
    assert read_file(browsed.repository, browsed.revids[0], "README.txt").text == (
        b"hello\nrevision 0\nbye\n")


def test_binary_files_are_not_shown(browsed: Browsed):
    text = read_file(browsed.repository, browsed.revids[-1], "data.bin")
    assert text.binary and not text.shown and text.text == b""


def test_empty_and_unterminated_files(browsed: Browsed):
    assert read_file(browsed.repository, browsed.revids[-1], "empty.txt").text == b""
    assert read_file(browsed.repository, browsed.revids[-1], "no-newline.txt").text == (
        b"one\ntwo")
    assert read_file(browsed.repository, browsed.revids[-1], "ünïcode näme.txt").text == (
        "ça va\n".encode())


def test_text_is_cut_at_a_line_end_by_bytes(browsed: Browsed):
    text = read_file(browsed.repository, browsed.revids[-1], "src/main.py", max_bytes=30)
    assert text.text == b"# the main program\nprint(0)\n"  # not half of "print(1)"
    assert text.truncated and text.shown


def test_text_is_cut_by_lines(browsed: Browsed):
    text = read_file(browsed.repository, browsed.revids[-1], "src/main.py", max_lines=2)
    assert text.text == b"# the main program\nprint(0)\n" and text.truncated
    whole = read_file(browsed.repository, browsed.revids[-1], "src/main.py", max_lines=4)
    assert not whole.truncated


def test_a_file_over_the_read_bound_is_not_read(browsed: Browsed, monkeypatch):
    def never(*args: Any) -> None:
        raise AssertionError("read a file over the bound")

    monkeypatch.setattr(type(browsed.repository.revision_tree(browsed.revids[-1])),
                        "get_file_text", never)
    text = read_file(browsed.repository, browsed.revids[-1], "src/main.py", max_read=10)
    assert text.too_large and not text.shown and text.text == b"" and text.truncated


def test_cut_keeps_one_long_line_to_the_byte_bound():
    assert trees._cut(b"x" * 100, 10, 5) == b"x" * 10
    assert trees._cut(b"a\nb\nc\n", 100, 3) == b"a\nb\nc\n"
    assert trees._cut(b"a\nb\nc\n", 100, 2) == b"a\nb\n"


def test_stream_file_gives_the_entry_then_the_bytes(browsed: Browsed):
    entry, chunks = stream_file(browsed.repository, browsed.revids[-1], "data.bin")
    assert entry.size == len(BROWSE_BINARY)
    assert b"".join(chunks) == BROWSE_BINARY


def test_stream_file_checks_the_path_before_returning(browsed: Browsed):
    with pytest.raises(NoSuchPath):
        stream_file(browsed.repository, browsed.revids[-1], "nosuch")


def test_is_binary_follows_breezys_rule():
    assert trees.is_binary(b"a\0b")
    assert not trees.is_binary(b"x" * 1024 + b"\0")  # past the first 1024 bytes
    assert not trees.is_binary("ça".encode("latin-1"))  # not UTF-8 is still text


def test_tree_path_of_the_root():
    assert trees.tree_path("") == trees.tree_path("/") == ""
    assert trees.tree_path("/a/b/") == "a/b"

