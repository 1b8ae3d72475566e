"""``bzrstore codebase``: add, list and remove on each registry backend."""

from __future__ import annotations

import pytest

from bzrstore.config import Settings


def test_codebase_add_list_remove(env: Settings, run):
    assert run("codebase", "add", "zsh", "hello")[0] == 0
    status, out, _ = run("codebase", "add", "hello")
    assert status == 0 and "already" in out
    assert run("codebase", "list") == (0, "hello\nzsh\n", "")
    assert run("codebase", "remove", "zsh")[0] == 0
    status, _, err = run("codebase", "remove", "zsh")
    assert status == 1 and err.count("\n") == 1 and "no such codebase" in err
    assert run("codebase", "list") == (0, "hello\n", "")


@pytest.mark.parametrize("bad", ["Hello", "../etc", "admin", "a/b", ".hidden", "x" * 256])
def test_invalid_codebase_names_write_nothing(env: Settings, bad: str, run):
    status, out, err = run("codebase", "add", "good", bad)
    assert status == 1
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    if not env.database_url:
        assert not env.sqlite_path.exists()  # refused before the registry was opened
    assert run("codebase", "list") == (0, "", "")
