"""The shipped systemd units (deploy/systemd/): valid, and their ExecStart keeps their promises.

No systemd runs as PID 1 where the tests run, so the service is not started by
systemd itself: ``systemd-analyze verify`` checks the unit files, and the tests
run ``ExecStart`` with what systemd would give it (the unit's and the env file's
environment, ``NOTIFY_SOCKET``, ``LISTEN_FDS``), with the unit's directories moved
under the test's temporary directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from servers import BIN, ROOT

UNITS = ROOT / "deploy" / "systemd"
SERVICE = UNITS / "bzrstore.service"
INSTALLED_BZRSTORE = "/opt/bzrstore/venv/bin/bzrstore"
TIMEOUT_SECONDS = 30
# systemd-analyze and the installed command under the units' settings: real processes.
pytestmark = pytest.mark.e2e


def unit_values(path: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit or env file, in order (comments and sections left out)."""
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", ";", "[")):
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def service_environment(tmp_path: Path, port: int) -> dict[str, str]:
    """What systemd gives ExecStart: the env example, then ``Environment=``, paths moved."""
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    env.update({k: v[-1] for k, v in unit_values(UNITS / "bzrstore.env.example").items()})
    env.update(value.split("=", 1) for value in unit_values(SERVICE)["Environment"])
    state, runtime = tmp_path / "lib", tmp_path / "run"  # StateDirectory, RuntimeDirectory
    state.mkdir()
    runtime.mkdir()
    assert env["BZRSTORE_DATA"] == env["HOME"] == "/var/lib/bzrstore"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/run/bzrstore"
    env.update(BZRSTORE_DATA=str(state), HOME=str(state), PROMETHEUS_MULTIPROC_DIR=str(runtime),
               BZRSTORE_DATABASE_URL="", GUNICORN_BIND=f"127.0.0.1:{port}",
               GUNICORN_WORKERS="2")
    return env


def exec_start(env: dict[str, str]) -> list[str]:
    """The unit's ExecStart, with this venv's bzrstore for the installed one."""
    [command] = unit_values(SERVICE)["ExecStart"]
    argv = shlex.split(command)
    assert argv[0] == INSTALLED_BZRSTORE
    return [str(BIN / "bzrstore"), *argv[1:]]


# Runs in the child: what systemd does before it execs a socket-activated service.
AS_SYSTEMD = """
import os, sys
os.dup2(int(sys.argv[1]), 3)
os.execve(sys.argv[2], sys.argv[2:], {**os.environ, "LISTEN_PID": str(os.getpid())})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_health(port: int) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                assert response.read() == b"ok"
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def workers(proc: subprocess.Popen) -> set[int]:
    return {child.pid for child in psutil.Process(proc.pid).children()}


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM to the main process only (KillMode=mixed), as ``systemctl stop`` does."""
    proc.send_signal(signal.SIGTERM)
    stop_seconds = int(unit_values(SERVICE)["TimeoutStopSec"][0])
    return proc.wait(timeout=stop_seconds)


def test_units_pass_systemd_analyze_verify(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in ("bzrstore.service", "bzrstore.socket"):
        text = (UNITS / unit).read_text().replace(INSTALLED_BZRSTORE, str(BIN / "bzrstore"))
        (tmp_path / unit).write_text(text)
    result = subprocess.run([analyze, "verify", "--man=no", *sorted(tmp_path.iterdir())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # unknown keys are only warned about


def test_service_notifies_ready_from_its_main_process_and_reloads_gracefully(tmp_path: Path):
    """Type=notify with NotifyAccess=main; ExecReload's HUP swaps workers, the server stays."""
    port = free_port()
    env = service_environment(tmp_path, port)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    notify.settimeout(TIMEOUT_SECONDS)
    env["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    proc = subprocess.Popen(exec_start(env), env=env, cwd=env["BZRSTORE_DATA"],
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "log").open("wb"))
    try:
        message, ancillary, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(12))
        assert b"READY=1" in message.split(b"\n")
        [(level, kind, credentials)] = ancillary
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
        assert int.from_bytes(credentials[:4], "little") == proc.pid  # the main process
        wait_health(port)

        before = workers(proc)
        assert len(before) == 2
        proc.send_signal(signal.SIGHUP)  # ExecReload
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while workers(proc) & before or len(workers(proc)) != 2:
            assert time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.05)
        wait_health(port)
        assert proc.poll() is None
    finally:
        assert stop(proc) == 0, (tmp_path / "log").read_text()
        notify.close()


def test_socket_activation_serves_on_the_socket_systemd_passes(tmp_path: Path):
    """bzrstore.socket: gunicorn takes fd 3 (LISTEN_FDS) and ignores GUNICORN_BIND."""
    [listen] = unit_values(UNITS / "bzrstore.socket")["ListenStream"]
    assert listen == "127.0.0.1:8000"  # the address GUNICORN_BIND names by default
    env = service_environment(tmp_path, free_port())
    held = socket.create_server(("127.0.0.1", 0))
    port = held.getsockname()[1]
    env["LISTEN_FDS"] = "1"

    # As systemd passes it: the socket as fd 3, LISTEN_PID the pid that execs gunicorn.
    fd = held.fileno()
    command = [sys.executable, "-c", AS_SYSTEMD, str(fd), *exec_start(env)]
    proc = subprocess.Popen(command, env=env, cwd=env["BZRSTORE_DATA"], pass_fds=(fd,),
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "log").open("wb"))
    held.close()  # only the server holds it now
    try:
        wait_health(port)
        log = (tmp_path / "log").read_text()
        assert f"127.0.0.1:{port}" in log and env["GUNICORN_BIND"] not in log
    finally:
        assert stop(proc) == 0, (tmp_path / "log").read_text()


def test_service_on_a_behind_postgres_schema_says_what_to_run(tmp_path: Path,
                                                              postgres_schema_url: str):
    """ExecStart on a PostgreSQL schema not yet upgraded: one journal line, exit 1."""
    port = free_port()
    env = {**service_environment(tmp_path, port), "BZRSTORE_DATABASE_URL": postgres_schema_url}
    refused = subprocess.run(exec_start(env), env=env, cwd=env["BZRSTORE_DATA"],
                             capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "run 'bzrstore db upgrade' with the same BZRSTORE_DATABASE_URL" in refused.stderr

    upgrade = subprocess.run([str(BIN / "bzrstore"), "db", "upgrade"], env=env,
                             capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert upgrade.returncode == 0, upgrade.stderr
    proc = subprocess.Popen(exec_start(env), env=env, cwd=env["BZRSTORE_DATA"],
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "log").open("wb"))
    try:
        wait_health(port)
    finally:
        assert stop(proc) == 0, (tmp_path / "log").read_text()
