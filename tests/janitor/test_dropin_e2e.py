"""Janitor's store start line with only the executable changed (``Dockerfile_bzr_store``).

``janitor-bzr-store --port=9929 --public-port=9930 --listen-address=… --config
janitor.conf --vcs-path DIR``: ``janitor.conf`` is protobuf text with
``database_location`` (PostgreSQL) and the campaigns; repositories live at
``DIR/<codebase>``. A worker's push without credentials on ``--port``, and everything
Janitor reads, on both ports.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import as_worker, run_cli, starts_processes
from nginx import free_port
from servers import BIN, stop_group

START_TIMEOUT_SECONDS = 30
JANITOR_CONF = """\
database_location: "{url}"
campaign {{
    name: "campaign"
}}
"""


@dataclass
class DropIn:
    """``janitor-bzr-store`` running: its internal and public URLs and its vcs path."""

    internal: str
    public: str
    vcs_path: Path


def wait_healthy(proc: subprocess.Popen, url: str, log: Path) -> None:
    """Wait until ``url``/health answers, or fail with the server's output."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"janitor-bzr-store did not start:\n{log.read_text()}") from None
        time.sleep(0.1)


@pytest.fixture
@starts_processes
def dropin(postgres_schema_url: str, tmp_path: Path) -> Iterator[DropIn]:
    """``janitor-bzr-store`` on a Janitor-like config; codebase ``foo``, worker registered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BZRSTORE_")}
    setup_env = {**env, "BZRSTORE_DATABASE_URL": postgres_schema_url,
                 "BZRSTORE_DATA": str(tmp_path / "setup")}
    run_cli(setup_env, "db", "upgrade")
    run_cli(setup_env, "codebase", "add", "foo")
    run_cli(setup_env, "worker", "add", "worker", stdin="secret\n")
    conf, vcs_path, log = tmp_path / "janitor.conf", tmp_path / "bzr", tmp_path / "dropin.log"
    conf.write_text(JANITOR_CONF.format(url=postgres_schema_url))
    vcs_path.mkdir()
    port, public_port = free_port(), free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "janitor-bzr-store"), f"--port={port}", f"--public-port={public_port}",
             "--listen-address=127.0.0.1", "--config", str(conf), "--vcs-path", str(vcs_path)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{public_port}", log)
        wait_healthy(proc, f"http://127.0.0.1:{port}", log)
        yield DropIn(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{public_port}", vcs_path)
    finally:
        stop_group(proc)


def get_json(url: str) -> object:
    """GET with aiohttp's ``Accept: */*``; the decoded JSON body."""
    request = urllib.request.Request(url, headers={"Accept": "*/*"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_worker_push_without_credentials(dropin, worker, worker_run):
    """The runner's target URL is ``<internal>/<codebase>``: no credentials, no ``/bzr``."""
    run = worker_run
    worker["push_result"](f"bzr+{dropin.internal}/foo", run,
                          {"main": run.revids[-1], "upstream": run.revids[0]}, "run-1")
    worker["push_cache"](f"bzr+{dropin.internal}/foo", run)
    assert (dropin.vcs_path / "foo" / "campaign" / "main" / ".bzr").is_dir()
    for public in (f"{dropin.public}/bzr/foo", f"{dropin.internal}/foo"):
        assert worker["tip_and_tags"](f"{public}/campaign/main")[0] == run.revids[-1]
        assert worker["tip_and_tags"](f"{public}/campaign/upstream")[0] == run.revids[0]
        assert worker["tip_and_tags"](f"{public}/debian/latest")[0] == run.revids[-1]


def test_public_port_still_needs_credentials(dropin, worker, worker_run):
    with pytest.raises(Exception, match="401|[Pp]ermission"):
        worker["push_branch"](worker_run.branch, f"bzr+{dropin.public}/bzr/foo/campaign/x",
                              worker_run.revids[-1])
    worker["push_branch"](worker_run.branch,
                          "bzr+" + as_worker(f"{dropin.public}/bzr/foo/campaign/x"),
                          worker_run.revids[-1])


def test_reads_on_both_ports(dropin):
    for base in (dropin.internal, dropin.public):
        assert get_json(base + "/bzr/") == ["foo"]
        assert get_json(base + "/repositories") == ["foo"]
        with urllib.request.urlopen(base + "/health") as response:
            assert response.read() == b"ok"
