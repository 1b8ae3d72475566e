"""The bzrstore command line as a whole: usage errors and failures as one line."""

from __future__ import annotations

from pathlib import Path


def test_usage_errors_exit_2(run):
    assert run("frobnicate")[0] == 2
    assert run("worker", "admin", "alice")[0] == 2  # neither --on nor --off


def test_unreachable_registry_is_one_line(tmp_path: Path, monkeypatch, run):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("BZRSTORE_DATA", str(blocker / "data"))
    status, _, err = run("codebase", "list")
    assert status == 1 and err.startswith("bzrstore: error:") and err.count("\n") == 1


def test_bad_setting_is_one_line(monkeypatch, run):
    monkeypatch.setenv("BZRSTORE_DB_POOL_SIZE", "lots")
    status, _, err = run("codebase", "list")
    assert status == 1 and "BZRSTORE_DB_POOL_SIZE" in err and err.count("\n") == 1
