"""Test helpers that are not fixtures: credentials, URLs, the CLI, the e2e server's handle."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

from servers import BIN, Gunicorn

POSTGRES_URL_ENV = "BZRSTORE_TEST_POSTGRES_URL"

WORKER = ("worker", "secret")


def basic(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic ``Authorization`` header."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def as_worker(url: str) -> str:
    """``url`` with the worker's credentials in it, as Janitor pushes."""
    user, password = WORKER
    return url.replace("://", f"://{user}:{password}@", 1)


E2E_CODEBASES = ("alpha",)


@dataclass
class StoreServer:
    """A running bzrstore: its URL, data directory and a worker's credentials."""

    server: Gunicorn
    data: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def repos(self) -> Path:
        return self.data / "repos"

    def reader_url(self, path: str, prefix: str = "/bzr/") -> str:
        """Anonymous URL of ``<cb>/<path>``."""
        return f"{self.url}{prefix}{path}"

    def writer_url(self, path: str, prefix: str = "/bzr/") -> str:
        """URL of ``<cb>/<path>`` with the worker's credentials in it, as Janitor pushes."""
        return as_worker(self.reader_url(path, prefix))


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run the installed ``bzrstore`` command; fail the test if it fails."""
    result = subprocess.run([str(BIN / "bzrstore"), *args], env=env, input=stdin,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout
