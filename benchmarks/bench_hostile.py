#!/usr/bin/env python3
"""Hostile requests, one at a time, against ``bzrstore serve`` and stock Breezy's WSGI app.

Each attack of issue 9 section 1 runs on a freshly started server (so one attack's
leftovers cannot colour the next) while a poller asks ``/health`` every 0.1 s. Per
attack and server it reports the largest peak RSS growth of one server process (VmHWM
after clear_refs, and 20 ms samples for a worker that dies), the CPU seconds of the
server's process tree, the time to the answer (or "killed after N s"), the status, and
/health's p95. Everything binds 127.0.0.1, every loop is bounded in count and time.

    .venv/bin/python benchmarks/bench_hostile.py [--only readv,stalled] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from attacks import ADMIN, ATTACKS, PASSWORD, Target
from bench_store import BIN, DEFAULT_TOOLS, clean_environ, free_port, timestamp
from probes import HealthPoller, Probe

from bzrstore.config import Settings

MEDIUM = Path("/tmp/bench-repos/medium/repo")
WORKERS = 2  # both servers: bench.py's stock setting
ATTACK_TIMEOUT_SECONDS = 90.0  # then the client gives up and the server is stopped
SETTLE_SECONDS = 3.0  # after the answer, so work left behind (an abandoned diff) is counted


@dataclass
class Server:
    """A candidate: how to start it and where its smart requests go."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    smart_path: str  # POST path of the medium repository's smart requests
    bzrstore: bool


def bzrstore_server(work: Path, args: argparse.Namespace) -> Server:
    """``bzrstore serve`` over a copy of the medium repository (codebase ``repo``)."""
    data = work / "data"
    env = dict(clean_environ(), BZRSTORE_DATA=str(data), GUNICORN_WORKERS=str(WORKERS),
               GUNICORN_ACCESSLOG=str(work / "access.log"),
               BZRSTORE_CLIENT_IDLE_SECONDS=str(args.idle), GUNICORN_THREADS=str(args.threads))
    cli = str(BIN / "bzrstore")
    subprocess.run([cli, "codebase", "add", "repo", "bigdiff"], env=env, check=True)
    subprocess.run([cli, "worker", "add", "--admin", ADMIN], env=env, check=True,
                   input=PASSWORD + "\n", text=True)
    shutil.rmtree(data / "repos" / "repo", ignore_errors=True)
    shutil.copytree(MEDIUM, data / "repos" / "repo", symlinks=True)
    shutil.rmtree(data / "repos" / "bigdiff", ignore_errors=True)
    args.bigdiff_revs = make_big_diff_repo(data / "repos" / "bigdiff")
    port = free_port()
    return Server("bzrstore", [cli, "serve", "--bind", f"127.0.0.1:{port}"], env, port,
                  "/bzr/repo/.bzr/smart", True)


def stock_server(work: Path, tools: Path) -> Server:
    """Stock Breezy's WSGI app under gunicorn, started as bench.py starts it."""
    root = work / "root"
    shutil.copytree(MEDIUM, root / "repo", symlinks=True)
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "--timeout", "600", "-k", "sync", "-w", str(WORKERS),
           "-b", f"127.0.0.1:{port}", "--chdir", str(tools), "stock_wsgi:app"]
    return Server("stock", cmd, dict(clean_environ(), BENCH_ROOT=str(root)), port,
                  "/repo/.bzr/smart", False)


def make_big_diff_repo(path: Path, lines: int = 3_000_000) -> tuple[str, str]:
    """A branch ``main`` whose one file of ``lines`` short lines changes every other line
    between its two revisions; returns their ids."""
    env = dict(clean_environ(), BRZ_EMAIL="Bench <bench@example.com>")

    def brz(*args: str) -> str:
        return subprocess.run([str(BIN / "brz"), *args], env=env, check=True,
                              capture_output=True, text=True).stdout

    tree = path.parent / "bigdiff-tree"
    brz("init-shared-repo", "-q", "--no-trees", str(path))
    brz("init", "-q", str(tree))
    for n, line in enumerate((b"a\n", b"b\n")):
        (tree / "big.txt").write_bytes(b"".join(line if i % 2 else b"x\n" for i in range(lines)))
        brz("add", "-q", str(tree / "big.txt"))
        brz("commit", "-q", "-m", f"r{n}", str(tree))
    brz("push", "-q", "-d", str(tree), str(path / "main"))
    old, new = (brz("revision-info", "-d", str(tree), "-r", r).split()[1] for r in ("1", "2"))
    shutil.rmtree(tree)
    return old, new


@dataclass
class Result:
    """One attack on one server."""

    attack: str
    server: str
    status: str
    seconds: float
    rss_growth_mib: float
    cpu_seconds: float
    health_p95_ms: float


def start(server: Server, log: Path) -> subprocess.Popen:
    """Start ``server`` and wait (bounded) until /health, or a smart POST for stock, answers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(server.cmd, env=server.env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", "/health")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{server.name} did not start:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Stop the whole process group (SIGKILL after 10 s)."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def run_attack(name: str, attack: Callable[[Target], str], server: Server, work: Path,
               args: argparse.Namespace) -> Result:
    """Start the server, run one attack under the probes, stop the server."""
    proc = start(server, work / f"{server.name}.log")
    target = Target(server.port, server.smart_path, server.bzrstore, WORKERS, args,
                    ATTACK_TIMEOUT_SECONDS)
    try:
        time.sleep(0.5)  # let the workers finish booting before the baseline
        with HealthPoller(server.port) as health, Probe(psutil.Process(proc.pid)) as probe:
            started = time.monotonic()
            try:
                status = attack(target)
            except TimeoutError:
                status = f"killed after {ATTACK_TIMEOUT_SECONDS:.0f} s"
            except OSError as exc:
                status = f"closed ({exc.__class__.__name__})"
            seconds = time.monotonic() - started
            time.sleep(SETTLE_SECONDS)
    finally:
        stop(proc)
    return Result(name, server.name, status, round(seconds, 2), round(probe.growth_mib, 1),
                  round(probe.cpu_seconds, 2), round(health.p95_ms, 1))


def markdown(results: list[Result], servers: list[str]) -> str:
    """The results, one row per attack with the servers side by side."""
    cols = ["status", "time s", "RSS +MiB", "CPU s", "/health p95 ms"]
    head = "| attack | " + " | ".join(f"{s} {c}" for s in servers for c in cols) + " |"
    lines = [head, "|---" * (1 + len(servers) * len(cols)) + "|"]
    for attack in dict.fromkeys(r.attack for r in results):
        cells = [attack]
        for server in servers:
            r = next((r for r in results if r.attack == attack and r.server == server), None)
            cells += ([r.status, f"{r.seconds:.1f}", f"{r.rss_growth_mib:.0f}",
                       f"{r.cpu_seconds:.1f}", f"{r.health_p95_ms:.0f}"] if r else ["n/a"] * 5)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated attacks (default: all)")
    parser.add_argument("--servers", default="bzrstore,stock")
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS)
    parser.add_argument("--readv-mib", type=int, default=50, help="readv offsets body size")
    parser.add_argument("--newline-mib", type=int, default=20, help="no-newline body size")
    parser.add_argument("--idle", type=float, default=Settings().client_idle_seconds,
                        help="BZRSTORE_CLIENT_IDLE_SECONDS of the bzrstore server"
                        " (default: bzrstore's)")
    parser.add_argument("--threads", type=int, default=4,
                        help="GUNICORN_THREADS of the bzrstore server (default 4, as"
                        " gunicorn.conf.py ships; 1: sync workers)")
    parser.add_argument("--json", type=Path, help="where to write the results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (MEDIUM / "trunk").is_dir():
        sys.exit(f"{MEDIUM} is missing: generate it with gen_repo.py --preset medium")
    names = [a for a in ATTACKS if not args.only or a in args.only.split(",")]
    wanted = args.servers.split(",")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        work = Path(tmp)
        servers = []
        if "bzrstore" in wanted:
            servers.append(bzrstore_server(work / "bzrstore", args))
        if "stock" in wanted:
            servers.append(stock_server(work / "stock", args.tools))
        for name in names:
            attack, bzrstore_only = ATTACKS[name]
            for server in servers:
                if bzrstore_only and not server.bzrstore:
                    continue
                result = run_attack(name, attack, server, work, args)
                print(json.dumps(asdict(result)), file=sys.stderr, flush=True)
                results.append(result)
    table = markdown(results, [s.name for s in servers])
    print(table)
    out = args.json or Path(f"bench-hostile-{timestamp()}.json")
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                               "results": [asdict(r) for r in results]}, indent=1))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
