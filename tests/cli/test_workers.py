"""``bzrstore worker``: passwords from stdin or a terminal, admin flags, on each backend."""

from __future__ import annotations

import io

import pytest

from bzrstore.auth import Authenticator
from bzrstore.cli import workers
from bzrstore.config import Settings
from bzrstore.registry import open_registry


def authenticates(settings: Settings, name: str, password: str) -> bool:
    registry = open_registry(settings)
    try:
        return Authenticator(registry, 0).authenticate(name, password)
    finally:
        registry.close()


def registry_hash(settings: Settings, name: str) -> str | None:
    registry = open_registry(settings)
    try:
        return registry.worker_password_hash(name)
    finally:
        registry.close()


def test_worker_add_reads_one_line_of_stdin(env: Settings, run, stdin):
    stdin("s3cret pass\nnot read\n")
    status, out, err = run("worker", "add", "alice")
    assert (status, err) == (0, "") and "alice" in out
    assert authenticates(env, "alice", "s3cret pass")
    assert registry_hash(env, "alice").startswith("$2a$04$")  # cost set in conftest.py
    assert not authenticates(env, "alice", "s3cret pass\nnot read")
    assert run("worker", "list") == (0, "alice\n", "")


def test_worker_add_admin_and_toggle(env: Settings, run, stdin):
    stdin("pw\n")
    assert run("worker", "add", "root", "--admin")[0] == 0
    assert run("worker", "list") == (0, "root (admin)\n", "")
    assert run("worker", "admin", "root", "--off")[0] == 0
    assert run("worker", "list") == (0, "root\n", "")
    assert run("worker", "admin", "root", "--on")[0] == 0
    assert run("worker", "list") == (0, "root (admin)\n", "")
    assert run("worker", "admin", "nobody", "--on")[0] == 1


def test_worker_add_existing_is_refused(env: Settings, run, stdin):
    stdin("first\n")
    assert run("worker", "add", "alice")[0] == 0
    stdin("second\n")
    status, _, err = run("worker", "add", "alice")
    assert status == 1 and "already exists" in err
    assert authenticates(env, "alice", "first")


@pytest.mark.parametrize("text", ["", "\n", "\r\n"])
def test_empty_password_is_refused(env: Settings, text: str, run, stdin):
    stdin(text)
    status, _, err = run("worker", "add", "alice")
    assert status == 1 and "empty password" in err
    assert run("worker", "list") == (0, "", "")


def test_password_is_never_taken_from_argv(env: Settings, run, stdin):
    stdin("")
    assert run("worker", "add", "alice", "secret")[0] == 2
    assert run("worker", "list") == (0, "", "")


def test_overlong_password_is_refused(env: Settings, run, stdin):
    stdin("x" * 73 + "\n")
    status, _, err = run("worker", "add", "alice")
    assert status == 1 and "72 bytes" in err


def test_invalid_worker_name_is_refused(env: Settings, run, stdin):
    stdin("pw\n")
    status, _, err = run("worker", "add", "al:ice")
    assert status == 1 and "invalid worker name" in err


def test_worker_passwd_changes_the_password(env: Settings, run, stdin):
    stdin("old\n")
    run("worker", "add", "alice")
    stdin("new\n")
    assert run("worker", "passwd", "alice")[0] == 0
    assert authenticates(env, "alice", "new")
    assert not authenticates(env, "alice", "old")
    stdin("pw\n")
    status, _, err = run("worker", "passwd", "nobody")
    assert status == 1 and "no such worker" in err


def test_worker_remove(env: Settings, run, stdin):
    stdin("pw\n")
    run("worker", "add", "alice")
    assert run("worker", "remove", "alice")[0] == 0
    assert not authenticates(env, "alice", "pw")
    assert run("worker", "remove", "alice")[0] == 1


class FakeTTY(io.StringIO):
    """A stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_terminal_prompts_twice(env: Settings, monkeypatch, run):
    answers = iter(["typed", "typed", "one", "other"])
    monkeypatch.setattr("sys.stdin", FakeTTY())
    monkeypatch.setattr(workers.getpass, "getpass", lambda prompt: next(answers))
    assert run("worker", "add", "alice")[0] == 0
    assert authenticates(env, "alice", "typed")
    status, _, err = run("worker", "passwd", "alice")
    assert status == 1 and "do not match" in err
    assert authenticates(env, "alice", "typed")


def test_add_and_passwd_write_2a_hashes_at_the_configured_cost(env: Settings, run, stdin,
                                                               monkeypatch):
    monkeypatch.setenv("BZRSTORE_BCRYPT_COST", "5")
    stdin("pw\n")
    assert run("worker", "add", "alice")[0] == 0
    assert registry_hash(env, "alice").startswith("$2a$05$")
    monkeypatch.setenv("BZRSTORE_BCRYPT_COST", "6")
    stdin("new\n")
    assert run("worker", "passwd", "alice")[0] == 0
    assert registry_hash(env, "alice").startswith("$2a$06$")
    assert authenticates(env, "alice", "new")
