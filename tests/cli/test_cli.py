"""The bzrstore command line, driven through main() on each registry backend."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import bzrstore
from bzrstore import auth, cli
from bzrstore.auth import Authenticator
from bzrstore.cli import serve, workers
from bzrstore.config import CONFIG_FILE_ENV, OPTIONS, Settings
from bzrstore.registry import open_registry
from bzrstore.repos import branches, check
from bzrstore.repos.check import Finding


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BZRSTORE_* setting of the caller's environment leaks into a test; cheap hashes."""
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)
    monkeypatch.delenv(CONFIG_FILE_ENV, raising=False)
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment names ``settings``' data directory and database."""
    monkeypatch.setenv("BZRSTORE_DATA", str(settings.data))
    if settings.database_url:
        monkeypatch.setenv("BZRSTORE_DATABASE_URL", settings.database_url)
    return settings


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


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


def test_codebase_add_list_remove(env: Settings, capsys):
    assert run(capsys, "codebase", "add", "zsh", "hello")[0] == 0
    status, out, _ = run(capsys, "codebase", "add", "hello")
    assert status == 0 and "already" in out
    assert run(capsys, "codebase", "list") == (0, "hello\nzsh\n", "")
    assert run(capsys, "codebase", "remove", "zsh")[0] == 0
    status, _, err = run(capsys, "codebase", "remove", "zsh")
    assert status == 1 and err.count("\n") == 1 and "no such codebase" in err
    assert run(capsys, "codebase", "list") == (0, "hello\n", "")


@pytest.mark.parametrize("bad", ["Hello", "../etc", "admin", "a/b", ".hidden", "x" * 256])
def test_invalid_codebase_names_write_nothing(env: Settings, capsys, bad: str):
    status, out, err = run(capsys, "codebase", "add", "good", bad)
    assert status == 1
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    if not env.database_url:
        assert not env.sqlite_path.exists()  # refused before the registry was opened
    assert run(capsys, "codebase", "list") == (0, "", "")


def test_worker_add_reads_one_line_of_stdin(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "s3cret pass\nnot read\n")
    status, out, err = run(capsys, "worker", "add", "alice")
    assert (status, err) == (0, "") and "alice" in out
    assert authenticates(env, "alice", "s3cret pass")
    assert registry_hash(env, "alice").startswith("$2b$04$")  # cost patched above
    assert not authenticates(env, "alice", "s3cret pass\nnot read")
    assert run(capsys, "worker", "list") == (0, "alice\n", "")


def test_worker_add_admin_and_toggle(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "pw\n")
    assert run(capsys, "worker", "add", "root", "--admin")[0] == 0
    assert run(capsys, "worker", "list") == (0, "root (admin)\n", "")
    assert run(capsys, "worker", "admin", "root", "--off")[0] == 0
    assert run(capsys, "worker", "list") == (0, "root\n", "")
    assert run(capsys, "worker", "admin", "root", "--on")[0] == 0
    assert run(capsys, "worker", "list") == (0, "root (admin)\n", "")
    assert run(capsys, "worker", "admin", "nobody", "--on")[0] == 1


def test_worker_add_existing_is_refused(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "first\n")
    assert run(capsys, "worker", "add", "alice")[0] == 0
    stdin(monkeypatch, "second\n")
    status, _, err = run(capsys, "worker", "add", "alice")
    assert status == 1 and "already exists" in err
    assert authenticates(env, "alice", "first")


@pytest.mark.parametrize("text", ["", "\n", "\r\n"])
def test_empty_password_is_refused(env: Settings, capsys, monkeypatch, text: str):
    stdin(monkeypatch, text)
    status, _, err = run(capsys, "worker", "add", "alice")
    assert status == 1 and "empty password" in err
    assert run(capsys, "worker", "list") == (0, "", "")


def test_password_is_never_taken_from_argv(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "")
    assert run(capsys, "worker", "add", "alice", "secret")[0] == 2
    assert run(capsys, "worker", "list") == (0, "", "")


def test_overlong_password_is_refused(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "x" * 73 + "\n")
    status, _, err = run(capsys, "worker", "add", "alice")
    assert status == 1 and "72 bytes" in err


def test_invalid_worker_name_is_refused(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "pw\n")
    status, _, err = run(capsys, "worker", "add", "al:ice")
    assert status == 1 and "invalid worker name" in err


def test_worker_passwd_changes_the_password(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "old\n")
    run(capsys, "worker", "add", "alice")
    stdin(monkeypatch, "new\n")
    assert run(capsys, "worker", "passwd", "alice")[0] == 0
    assert authenticates(env, "alice", "new")
    assert not authenticates(env, "alice", "old")
    stdin(monkeypatch, "pw\n")
    status, _, err = run(capsys, "worker", "passwd", "nobody")
    assert status == 1 and "no such worker" in err


def test_worker_remove(env: Settings, capsys, monkeypatch):
    stdin(monkeypatch, "pw\n")
    run(capsys, "worker", "add", "alice")
    assert run(capsys, "worker", "remove", "alice")[0] == 0
    assert not authenticates(env, "alice", "pw")
    assert run(capsys, "worker", "remove", "alice")[0] == 1


class FakeTTY(io.StringIO):
    """A stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_terminal_prompts_twice(env: Settings, capsys, monkeypatch):
    answers = iter(["typed", "typed", "one", "other"])
    monkeypatch.setattr("sys.stdin", FakeTTY())
    monkeypatch.setattr(workers.getpass, "getpass", lambda prompt: next(answers))
    assert run(capsys, "worker", "add", "alice")[0] == 0
    assert authenticates(env, "alice", "typed")
    status, _, err = run(capsys, "worker", "passwd", "alice")
    assert status == 1 and "do not match" in err
    assert authenticates(env, "alice", "typed")


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "worker", "admin", "alice")[0] == 2  # neither --on nor --off


def test_unreachable_registry_is_one_line(tmp_path: Path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("BZRSTORE_DATA", str(blocker / "data"))
    status, _, err = run(capsys, "codebase", "list")
    assert status == 1 and err.startswith("bzrstore: error:") and err.count("\n") == 1


def test_bad_setting_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("BZRSTORE_DB_POOL_SIZE", "lots")
    status, _, err = run(capsys, "codebase", "list")
    assert status == 1 and "BZRSTORE_DB_POOL_SIZE" in err and err.count("\n") == 1


def test_serve_execs_gunicorn_with_the_packaged_config(monkeypatch, capsys):
    calls: list[tuple[str, list[str]]] = []

    def fake_execvp(file: str, argv: list[str]) -> None:
        calls.append((file, argv))
        raise SystemExit(0)

    monkeypatch.setattr(serve.os, "execvp", fake_execvp)
    with pytest.raises(SystemExit):
        cli.main(["serve", "--bind", "0.0.0.0:9000"])
    (file, argv), = calls
    conf = Path(bzrstore.__file__).parent / "gunicorn.conf.py"
    assert conf.is_file()
    assert argv[1:] == ["-m", "gunicorn", "-c", str(conf), "--bind", "0.0.0.0:9000"]
    assert file == argv[0]


def test_serve_dev_runs_werkzeug(monkeypatch, tmp_path: Path):
    seen: dict[str, object] = {}
    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(bzrstore, "create_app", lambda settings: ("app", settings.data))
    monkeypatch.setattr("werkzeug.serving.run_simple",
                        lambda host, port, app, threaded: seen.update(
                            host=host, port=port, app=app, threaded=threaded))
    assert cli.main(["serve", "--dev", "--bind", "[::1]:8123"]) == 0
    assert seen == {"host": "::1", "port": 8123, "app": ("app", tmp_path), "threaded": True}


def test_break_lock_validates_then_prints_lines(monkeypatch, tmp_path: Path, capsys):
    targets: list[str] = []

    def fake_break_lock(repos_dir: Path, target: str) -> list[str]:
        targets.append(target)
        return ["broke lock on branch", "broke lock on repository"]

    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(branches, "break_lock", fake_break_lock)
    assert run(capsys, "break-lock", "hello/main/upstream") == (
        0, "broke lock on branch\nbroke lock on repository\n", "")
    status, _, err = run(capsys, "break-lock", "hello/../other")
    assert status == 1 and err.count("\n") == 1
    assert targets == ["hello/main/upstream"]


def test_break_lock_failure_is_one_line(monkeypatch, tmp_path: Path, capsys):
    def failing(repos_dir: Path, target: str) -> list[str]:
        raise RuntimeError("no branch there")

    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(branches, "break_lock", failing)
    assert run(capsys, "break-lock", "hello") == (
        1, "", "bzrstore: error: RuntimeError: no branch there\n")


def test_check_passes_codebases_prints_findings_and_returns_status(monkeypatch, tmp_path: Path,
                                                                    capsys):
    seen: list[list[str]] = []

    def fake_check(repos_dir: Path, codebases: list[str], repair: bool = False):
        seen.append(codebases)
        yield Finding("hello", "ok")
        yield Finding("zsh", "bad pack", failed=True)

    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(check, "check_codebases", fake_check)
    assert run(capsys, "check", "hello", "zsh") == (1, "hello: ok\nzsh: bad pack\n", "")
    assert run(capsys, "check")[0] == 1
    assert run(capsys, "check", "Bad")[0] == 1
    assert seen == [["hello", "zsh"], []]
