"""Janitor-scale load: N concurrent Janitor-like workers against ``bzrstore serve``.

Each client, with the real ``brz`` command line and its own home directory: branches a
codebase (anonymous), commits a few revisions, pushes them with credentials to the
public port (``<cb>/campaign/w<i>``) and, when the server has an internal listener,
without credentials to it (``bzr+http://…/<cb>/campaign/w<i>-internal``); then reads
as the differ and the site do (diff, revision-info) and polls the listings. The server
is gunicorn with the shipped gunicorn.conf.py (optionally behind the shipped nginx
site, ``--nginx``). At the end every pushed branch is checked (tip and revno equal what
the client pushed, ``brz check`` of each repository), and one table per level gives per
operation p50/p95/max and failures, the server's 5xx, per-request time, CPU share and
peak RSS.

    python benchmarks/bench_load.py --clients 8,16,32 [--nginx] [--revisions 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import ssl
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import breezy.bzr.bzrdir  # noqa: E402, F401  (registers the bzr formats)
from breezy.branch import Branch  # noqa: E402
from load_server import (  # noqa: E402
    WORKER,
    Server,
    TreeSampler,
    median,
    nginx_5xx,
    percentile,
    read_access_log,
    start_server,
)

from nginx import tls_context, trusting_brz  # noqa: E402
from servers import Brz  # noqa: E402

DEFAULT_REPO = Path("/tmp/bench-repos/small/repo")
OPS = ("branch", "commit", "push", "push-internal", "diff", "revision-info", "listing")
# The bound on each gunicorn process under this load: about 60 MiB idle (Breezy, Flask,
# the registry), the per-process caches, all bounded (mounted apps, login and history
# caches: under 80 MiB after 300 cold browse pages), and per thread one request's
# transient (a small push or clone streams through two-chunk queues: tens of MiB).
# A node then needs at most GUNICORN_WORKERS x this, whatever the number of clients.
MAX_PROCESS_RSS_BYTES = 256 * 2**20


@dataclass
class Results:
    """What the clients saw: durations and failures per operation, and the tips they pushed."""

    durations: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    pushed: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, op: str, call, *args, **kwargs):
        """Run ``call(*args, **kwargs)``, recording its duration under ``op``; re-raise on
        failure."""
        started = time.monotonic()
        try:
            result = call(*args, **kwargs)
        except Exception as exc:
            with self.lock:
                self.failures.setdefault(op, []).append(f"{type(exc).__name__}: {exc}"[:300])
            exc.recorded = True  # type: ignore[attr-defined]
            raise
        with self.lock:
            self.durations.setdefault(op, []).append(time.monotonic() - started)
        return result


def http_get(url: str, context: ssl.SSLContext | None) -> bytes:
    """GET with aiohttp's default ``Accept: */*``; fails on any non-2xx."""
    request = urllib.request.Request(url, headers={"Accept": "*/*"})
    with urllib.request.urlopen(request, timeout=300, context=context) as response:
        return response.read()


def with_credentials(url: str) -> str:
    """``url`` with the bench worker's credentials, as Janitor pushes on the public port."""
    return url.replace("://", f"://{WORKER[0]}:{WORKER[1]}@", 1)


def run_client(i: int, codebase: str, server: Server, work: Path, args: argparse.Namespace,
               results: Results, start: threading.Barrier) -> None:
    """One Janitor-like worker run, start to finish; a failure ends it (and is recorded)."""
    home = work / f"home{i}"
    brz = trusting_brz(home) if server.via_nginx else Brz(home)
    context = tls_context() if server.via_nginx else None
    local, branch = work / f"c{i}", f"campaign/w{i}"
    start.wait()
    try:
        results.timed("branch", brz.run, "branch", "-q",
                      f"{server.public}/bzr/{codebase}/trunk", local)
        base = Branch.open(str(local)).last_revision().decode()
        for n in range(args.revisions):
            (local / f"janitor-{i}-{n}.txt").write_text(f"client {i} change {n}\n" * 50)
            brz.run("add", "-q", cwd=local)
            results.timed("commit", brz.run, "commit", "-q", "-m", f"change {n}", cwd=local)
        tip_branch = Branch.open(str(local))
        tip, revno = tip_branch.last_revision().decode(), tip_branch.revno()
        target = with_credentials(f"{server.public}/bzr/{codebase}/{branch}")
        results.timed("push", brz.run, "push", "-q", "--overwrite", target, cwd=local)
        results.pushed[(codebase, branch)] = (tip, revno)
        if server.internal:
            target = f"bzr+{server.internal}/{codebase}/{branch}-internal"
            results.timed("push-internal", brz.run, "push", "-q", "--overwrite", target,
                          cwd=local)
            results.pushed[(codebase, f"{branch}-internal")] = (tip, revno)
        query = f"old={base}&new={tip}"
        results.timed("diff", http_get, f"{server.public}/{codebase}/diff?{query}", context)
        info = results.timed("revision-info", http_get,
                             f"{server.public}/{codebase}/revision-info?{query}", context)
        if len(json.loads(info)) != args.revisions:
            raise AssertionError(f"revision-info has {len(json.loads(info))} entries")
        for _ in range(args.polls):
            for path in ("/bzr/", "/repositories"):
                results.timed("listing", http_get, server.public + path, context)
    except Exception as exc:  # timed() recorded it; anything else is the client's own error
        if not getattr(exc, "recorded", False):
            with results.lock:
                results.failures.setdefault("client", []).append(traceback.format_exc(limit=2))


def verify(server: Server, results: Results, brz: Brz) -> tuple[int, int, list[str]]:
    """Branches whose tip and revno are what was pushed; repositories ``brz check`` fails."""
    intact = 0
    for (codebase, path), (tip, revno) in results.pushed.items():
        try:
            branch = Branch.open(str(server.data / "repos" / codebase / path))
            intact += (branch.last_revision().decode(), branch.revno()) == (tip, revno)
        except Exception as exc:  # a missing or broken branch is what we look for
            print(f"  {codebase}/{path}: {exc}", file=sys.stderr)
    broken = [codebase for codebase in sorted({cb for cb, _ in results.pushed})
              if brz.run("check", server.data / "repos" / codebase, check=False).returncode]
    return intact, len(results.pushed), broken


def run_level(clients: int, args: argparse.Namespace) -> tuple[str, bool]:
    """Run one level with ``clients`` workers: its table, and whether it met the targets
    (no failure, no 5xx, every branch intact and checked, each process under its RSS bound)."""
    codebases = [f"cb{i % args.codebases if args.codebases else i}" for i in range(clients)]
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix=f"bench-load-{clients}-"))
        if not args.keep:
            stack.callback(shutil.rmtree, work, ignore_errors=True)
        server = start_server(stack, work, args.repo, sorted(set(codebases)), args.nginx)
        sampler = TreeSampler(server.gunicorn.proc.pid)
        results, barrier = Results(), threading.Barrier(clients)
        threads = [threading.Thread(target=run_client, args=(i, codebases[i], server, work,
                                                             args, results, barrier))
                   for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        server_cpu, machine_busy = sampler.stop()
        intact, pushed, broken = verify(server, results, Brz(work / "verify-home"))
        access = read_access_log(server.access_log)
        access.errors_5xx += nginx_5xx(work) if server.via_nginx else 0
        table = format_table(clients, server, results, wall, server_cpu, machine_busy,
                             sampler, intact, pushed, broken, access)
        clean = (not results.failures and not access.errors_5xx and intact == pushed
                 and not broken and sampler.peak_process_rss <= MAX_PROCESS_RSS_BYTES)
        return table, clean


def format_table(clients, server, results, wall, server_cpu, machine_busy, sampler,
                 intact, pushed, broken, access) -> str:
    """The level's table: client-side operations, then the server's side."""
    lines = [f"## {clients} clients ({'nginx' if server.via_nginx else 'gunicorn direct'}; "
             f"internal listener: {'yes' if server.internal else 'no'}), wall {wall:.0f} s",
             "", "| op | n | failures | p50 s | p95 s | max s |", "|---|---|---|---|---|---|"]
    for op in (*OPS, "client"):
        times, failed = results.durations.get(op, []), results.failures.get(op, [])
        if times or failed:
            lines.append(f"| {op} | {len(times) + len(failed)} | {len(failed)} | "
                         f"{median(times):.2f} | {percentile(times, 0.95):.2f} | "
                         f"{max(times, default=0):.2f} |")
    lines += ["", "| server request | n | p50 ms | p95 ms | max ms | total s |",
              "|---|---|---|---|---|---|"]
    for kind, ms in sorted(access.times.items()):
        lines.append(f"| {kind} | {len(ms)} | {median(ms):.0f} | {percentile(ms, 0.95):.0f} | "
                     f"{max(ms)} | {sum(ms) / 1000:.1f} |")
    share = 100 * server_cpu / machine_busy if machine_busy else 0.0
    lines += ["", f"- requests {access.requests}, 5xx {access.errors_5xx} (gunicorn"
              f"{' and nginx' if server.via_nginx else ''} access logs)",
              f"- server CPU {server_cpu:.1f} s of {machine_busy:.1f} s machine busy "
              f"({share:.0f}%; clients and server share the cores)",
              f"- server peak RSS {sampler.peak_rss / 2**20:.0f} MB (arbiter + workers); "
              f"largest process {sampler.peak_process_rss / 2**20:.0f} MB (bound "
              f"{MAX_PROCESS_RSS_BYTES / 2**20:.0f} MB: "
              f"{'PASS' if sampler.peak_process_rss <= MAX_PROCESS_RSS_BYTES else 'FAIL'})",
              f"- branches intact {intact}/{pushed}; brz check failed: {broken or 'none'}"]
    for op, messages in sorted(results.failures.items()):
        lines.append(f"- first {op} failure: {messages[0]}")
    return "\n".join(lines)


def main() -> int:
    """Parse the options, run each level, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="8,16,32",
                        help="comma-separated concurrency levels (default 8,16,32)")
    parser.add_argument("--revisions", type=int, default=3, help="commits per client")
    parser.add_argument("--polls", type=int, default=3,
                        help="listing polls per client (each: /bzr/ and /repositories)")
    parser.add_argument("--codebases", type=int, default=0,
                        help="number of codebases the clients share (default: one each)")
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO,
                        help="shared repository to copy per codebase (gen_repo.py --preset small)")
    parser.add_argument("--nginx", action="store_true", help="clients go through the nginx site")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args()
    if not (args.repo / "trunk").is_dir():
        parser.error(f"{args.repo}/trunk missing: run ../shared/tools/gen_repo.py --preset small")
    ok = True
    for level in (int(n) for n in args.clients.split(",")):
        table, clean = run_level(level, args)
        print(table, "\n", flush=True)
        ok &= clean
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
