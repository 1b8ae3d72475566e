"""Fixtures of the command-line tests: a clean environment, main() run and captured."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from bzrstore import cli
from bzrstore.config import CONFIG_FILE_ENV, OPTIONS, Settings
from helpers import point_environment


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BZRSTORE_* setting of the caller's environment leaks into a test; cheap hashes."""
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)
    monkeypatch.delenv(CONFIG_FILE_ENV, raising=False)
    monkeypatch.setenv("BZRSTORE_BCRYPT_COST", "4")


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment names ``settings``' data directory and database."""
    return point_environment(monkeypatch, settings)


@pytest.fixture
def stdin(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set what the command reads from standard input."""
    return lambda text: monkeypatch.setattr("sys.stdin", io.StringIO(text))


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``bzrstore ARGV``: (exit status, stdout, stderr)."""
    def run(*argv: str) -> tuple[int, str, str]:
        status = cli.main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run
