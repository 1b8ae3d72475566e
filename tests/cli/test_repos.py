"""``bzrstore break-lock`` and ``check``: names checked, lines printed, exit statuses."""

from __future__ import annotations

from pathlib import Path

from bzrstore.repos import branches, check
from bzrstore.repos.check import Finding


def test_break_lock_validates_then_prints_lines(monkeypatch, tmp_path: Path, run):
    targets: list[str] = []

    def fake_break_lock(repos_dir: Path, target: str) -> list[str]:
        targets.append(target)
        return ["broke lock on branch", "broke lock on repository"]

    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(branches, "break_lock", fake_break_lock)
    assert run("break-lock", "hello/main/upstream") == (
        0, "broke lock on branch\nbroke lock on repository\n", "")
    status, _, err = run("break-lock", "hello/../other")
    assert status == 1 and err.count("\n") == 1
    assert targets == ["hello/main/upstream"]


def test_break_lock_failure_is_one_line(monkeypatch, tmp_path: Path, run):
    def failing(repos_dir: Path, target: str) -> list[str]:
        raise RuntimeError("no branch there")

    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(branches, "break_lock", failing)
    assert run("break-lock", "hello") == (
        1, "", "bzrstore: error: RuntimeError: no branch there\n")


def test_check_passes_codebases_prints_findings_and_returns_status(monkeypatch, tmp_path: Path,
                                                                   run):
    seen: list[list[str]] = []

    def fake_check(repos_dir: Path, codebases: list[str], repair: bool = False):
        seen.append(codebases)
        yield Finding("hello", "ok")
        yield Finding("zsh", "bad pack", failed=True)

    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(check, "check_codebases", fake_check)
    assert run("check", "hello", "zsh") == (1, "hello: ok\nzsh: bad pack\n", "")
    assert run("check")[0] == 1
    assert run("check", "Bad")[0] == 1
    assert seen == [["hello", "zsh"], []]
