"""Real processes for end-to-end tests: gunicorn on port 0 and the brz command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LISTENING = re.compile(rb"Listening at: http://127\.0\.0\.1:(\d+)")
START_TIMEOUT_SECONDS = 30
# The project's gunicorn.conf.py with a short Breezy lock wait (see that file).
TEST_GUNICORN_CONF = Path(__file__).resolve().parent / "gunicorn.conf.py"
LOCK_WAIT_ENV = "BZRSTORE_TEST_LOCK_WAIT_SECONDS"
# Long enough for a lock another request is about to release, far below Breezy's 30 s.
LOCK_WAIT_SECONDS = 2.0


@dataclass
class Gunicorn:
    """A gunicorn serving bzrstore on a free loopback port.

    By default with ``tests/gunicorn.conf.py``: the project's settings, and a lock held by
    someone else is waited for ``LOCK_WAIT_SECONDS`` (``env`` may set ``LOCK_WAIT_ENV``),
    not Breezy's 30 s.
    """

    env: dict[str, str]
    log_path: Path
    workers: int = 2
    command: list[str] | None = None
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's base URL once started."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        """Start gunicorn and wait until it listens and answers /health."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = self.command or [
            str(BIN / "gunicorn"), "-c", str(TEST_GUNICORN_CONF),
            "--bind", "127.0.0.1:0", "--workers", str(self.workers)]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT, env={LOCK_WAIT_ENV: str(LOCK_WAIT_SECONDS), **self.env}, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.port:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{self.log_path.read_text()}")
            match = LISTENING.search(self.log_path.read_bytes())
            self.port = int(match.group(1)) if match else 0
            time.sleep(0.05)
        self._wait_healthy(deadline)
        return self

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            if self.proc.poll() is not None:  # e.g. its workers failed to boot
                raise RuntimeError(f"gunicorn did not start:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        """Pids of the serving worker processes."""
        import psutil

        return [child.pid for child in psutil.Process(self.proc.pid).children()]

    def stop(self) -> None:
        """Stop gunicorn and its workers."""
        stop_group(self.proc)


def stop_group(proc: subprocess.Popen | None) -> None:
    """SIGTERM a server started in its own session, and its children; SIGKILL after 30 s."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Brz:
    """Runs the real ``brz`` command line with an isolated home directory."""

    home: Path

    def env(self) -> dict[str, str]:
        """The environment ``brz`` runs in: the test's home, no site plugins."""
        self.home.mkdir(parents=True, exist_ok=True)
        return {
            "HOME": str(self.home),
            "BRZ_EMAIL": "Test Worker <worker@example.com>", "BRZ_PLUGIN_PATH": "-site",
            "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
        }

    def run(self, *args: str | Path, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``brz args``; raise with its output when ``check`` and it fails."""
        result = subprocess.run(
            [str(BIN / "brz"), *map(str, args)], cwd=cwd, env=self.env(),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"brz {' '.join(map(str, args))} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def remember_credentials(self, url: str, user: str, password: str) -> None:
        """Write ``authentication.conf`` so brz answers 401s for ``url``'s host itself."""
        parts = urllib.parse.urlsplit(url)
        conf = self.home / ".config" / "breezy" / "authentication.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f"[store]\nscheme = http\nhost = {parts.hostname}\nport = {parts.port}\n"
                        f"user = {user}\npassword = {password}\n")

    def make_branch(self, path: Path, revisions: int = 3, start: int = 0) -> list[str]:
        """Create (or extend) a standalone branch with ``revisions`` commits."""
        if not (path / ".bzr").exists():
            self.run("init", path)
        for n in range(start, start + revisions):
            (path / "dir").mkdir(exist_ok=True)
            (path / "dir" / "file.txt").write_text(f"line {n}\n" * (n + 1))
            (path / f"f{n}.txt").write_text(f"revision {n}\n")
            self.run("add", "-q", cwd=path)
            self.run("commit", "-q", "-m", f"commit {n}", cwd=path)
        return self.revision_ids(path)

    def revision_ids(self, location: Path | str) -> list[str]:
        """Left-hand history of a branch, oldest first."""
        out = self.run("log", "--show-ids", "-n1", "--forward", location).stdout
        return re.findall(r"^revision-id: (\S+)$", out, re.MULTILINE)


def tree_snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``root`` with its mode and contents, to prove nothing changed."""
    snapshot: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        snapshot[str(path.relative_to(root))] = (stat.st_mode, content)
    return snapshot


def start_brz(brz: Brz, *args: str | Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start ``brz args`` in the background (to act on the server while it runs)."""
    return subprocess.Popen(
        [str(BIN / "brz"), *map(str, args)], cwd=cwd, env=brz.env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Run ``server`` (an in-test HTTP server or proxy) in a thread while the block runs."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends on ``sock`` until it closes (or resets) the connection."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received
