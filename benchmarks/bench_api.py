#!/usr/bin/env python3
"""bzrstore's HTTP API benchmark: diffs beside ``brz diff``, the codebase listing, revision-info.

One run, one machine, against a real gunicorn (the project's ``gunicorn.conf.py``, 2 workers):

- ``GET /<cb>/diff?old=R1&new=R2`` (whole body read) interleaved with
  ``brz diff -r revid:R1..revid:R2 <branch>`` run as a subprocess (Janitor's old way), for a
  small diff (a revision against its left parent), a large one (revno 1 against the tip of the
  medium preset) and an import (``null:`` against revno 1 of the large preset); the two
  outputs are compared apart from header timestamps.
- ``GET /bzr/`` as JSON with 10,000 registered codebases: the first page, a ``?q=`` filter
  and ``?page=50``, on SQLite and, with ``--postgres-url``, on PostgreSQL too.
- ``GET /<cb>/revision-info`` over 1,000 revisions of left-hand history.

Run it with the Python of the venv bzrstore is installed in; see README.md.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlsplit

from bench_store import BIN, DEFAULT_TOOLS, HERE, clean_environ, timestamp

ROOT = HERE.parent
MS = 1000.0

LISTING_TARGET_MS = 50.0
REVINFO_TARGET_MS = 100.0
REVINFO_SPAN = 1000
# Synthetic codebase names: PREFIXES[i % 10]-NNNNN, so ?q=python matches a tenth of them.
PREFIXES = ("python", "golang", "rust", "node", "ruby", "perl", "php", "haskell", "lib", "r-cran")
LISTING_QUERIES = {
    "first page": "/bzr/", "?q=python": "/bzr/?q=python", "?page=50": "/bzr/?page=50",
}
JSON_ACCEPT = {"Accept": "application/json"}
WARMUP = 10
# The same normalisation as tests/web/test_diffs.py: drop the timestamps of ---/+++ lines.
TIMESTAMP = re.compile(rb"^((?:---|\+\+\+) [^\t\n]*)\t[^\n]*$", re.MULTILINE)


def load_test_module(name: str) -> ModuleType:
    """A helper module of tests/ (``servers``: gunicorn on port 0 and brz; ``postgres``)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


servers = load_test_module("servers")
postgres = load_test_module("postgres")


# ------------------------------------------------------------------------- figures
@dataclass
class Stat:
    """Latency summary of one measurement, in milliseconds."""

    n: int
    p50: float
    p95: float
    min: float
    max: float


def summarise(seconds: list[float]) -> Stat:
    """p50, p95 (inclusive interpolation), min and max of ``seconds``, in ms."""
    ms = sorted(s * MS for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return Stat(len(ms), statistics.median(ms), p95, ms[0], ms[-1])


@dataclass
class Row:
    """One line of the results table."""

    measurement: str
    how: str
    stat: Stat
    size: str = "-"
    target: str = "-"
    result: str = "-"


@dataclass
class Report:
    """Everything the run found: table rows, checks and where the data came from."""

    rows: list[Row] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    failed: bool = False
    setup: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: bool, line: str) -> None:
        """Record a check line, prefixed ok/FAIL."""
        self.checks.append(f"{'ok  ' if ok else 'FAIL'} {line}")
        self.failed |= not ok


def verdict(report: Report, stat: Stat, target_ms: float) -> tuple[str, str]:
    """The target and PASS/FAIL columns for a p50 target."""
    ok = stat.p50 < target_ms
    report.failed |= not ok
    return f"p50 < {target_ms:g} ms", "PASS" if ok else "FAIL"


# ------------------------------------------------------------------------- data
def ensure_repo(tools: Path, *options: str) -> dict[str, Any]:
    """gen_repo.py's metadata of the repository ``options`` describe, generating it if needed."""
    print(f"gen_repo.py {' '.join(options)} (cached after the first time)", file=sys.stderr)
    proc = subprocess.run(
        [sys.executable, "gen_repo.py", *options],
        cwd=tools, check=True, stdout=subprocess.PIPE, text=True,
    )
    return json.loads(proc.stdout)


def revinfo_meta(tools: Path) -> dict[str, Any]:
    """The medium preset, or a custom repository when its trunk is too short for the span."""
    meta = ensure_repo(tools, "--preset", "medium")
    if meta["trunk_revno"] > REVINFO_SPAN:
        return meta
    return ensure_repo(tools, "--revisions", "1400", "--files", "300", "--file-size",
                         "20000", "--binary-fraction", "0.05", "--seed", "11",
                         "--out", "/tmp/bench-repos/revinfo")


def mainline(branch: Path) -> tuple[list[str], dict[str, int]]:
    """Left-hand history of ``branch``, newest first, and each revision's parent count."""
    import breezy.bzr  # noqa: F401 - registers the Bazaar formats
    from breezy.branch import Branch
    from breezy.revision import NULL_REVISION

    b = Branch.open(str(branch))
    with b.lock_read():
        graph = b.repository.get_graph()
        revids = list(graph.iter_lefthand_ancestry(b.last_revision(), [NULL_REVISION]))
        parents = b.repository.get_parent_map(revids)
    return [r.decode() for r in revids], {r.decode(): len(parents[r]) for r in revids}


def install(data: Path, codebase: str, meta: dict[str, Any]) -> Path:
    """Hard-link ``meta``'s shared repository in as ``codebase``; returns its trunk."""
    target = data / "repos" / codebase
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(Path(meta["path"]) / "repo"), str(target)], check=True)
    return target / "trunk"


def codebase_names(total: int, taken: list[str]) -> list[str]:
    """``total`` names in all, ``taken`` first, the rest synthetic."""
    synthetic = [f"{PREFIXES[i % len(PREFIXES)]}-{i:05d}" for i in range(total - len(taken))]
    return [*taken, *synthetic]


def register(data: Path, names: list[str], database_url: str = "") -> None:
    """Register ``names`` through the registry API on SQLite under ``data`` or PostgreSQL."""
    from bzrstore.config import load_settings
    from bzrstore.registry import open_registry

    settings = load_settings(environ={}, data=data, database_url=database_url)
    registry = open_registry(settings)
    try:
        registry.upgrade_schema()
        for name in names:
            registry.add_codebase(name)
    finally:
        registry.close()


# ------------------------------------------------------------------------- processes
class Client:
    """GETs over one http.client connection, reopened whenever the server closes it."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        self.last_headers: http.client.HTTPMessage | None = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[float, bytes]:
        """Seconds to send the request and read the whole body, and the body; 200 only."""
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=headers or {})
                response = self.conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.conn.close()  # a kept-alive connection closed under us: once more
                if attempt == 2:
                    raise
                continue
            elapsed = time.perf_counter() - t0
            self.last_headers = response.headers
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
            return elapsed, body
        raise AssertionError("unreachable")


def start_server(workdir: Path, name: str, data: Path, database_url: str = "") -> Any:
    """bzrstore under gunicorn -c gunicorn.conf.py, 2 workers, on a free port."""
    env = dict(
        clean_environ(),
        BZRSTORE_DATA=str(data),
        BZRSTORE_DATABASE_URL=database_url,
        GUNICORN_ACCESSLOG=str(workdir / f"access-{name}.log"),
        # No recycling mid-measurement: a fresh worker's first requests are slow.
        GUNICORN_MAX_REQUESTS="0",
    )
    return servers.Gunicorn(env, workdir / f"gunicorn-{name}.log", workers=2).start()


def brz_diff(brz_env: dict[str, str], branch: Path, old: str, new: str) -> tuple[float, bytes]:
    """Seconds taken by ``brz diff -r revid:OLD..revid:NEW BRANCH`` and what it printed."""
    cmd = [str(BIN / "brz"), "diff", "-r", f"revid:{old}..revid:{new}", str(branch)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=brz_env, capture_output=True, stdin=subprocess.DEVNULL,
                          cwd=branch.parent, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: there are differences
        raise RuntimeError(f"brz diff failed ({proc.returncode}): {proc.stderr[-600:]!r}")
    return elapsed, proc.stdout


def strip_timestamps(diff: bytes) -> bytes:
    """``diff`` without the timestamps of its ``---``/``+++`` header lines."""
    return TIMESTAMP.sub(rb"\1", diff)


# ------------------------------------------------------------------------- measurements
@dataclass
class DiffCase:
    """A diff to measure: codebase, branch on disk and the two revisions."""

    name: str
    codebase: str
    branch: Path
    old: str
    new: str
    reps: int


def measure_diff(report: Report, client: Client, brz_env: dict[str, str], case: DiffCase) -> None:
    """Interleave the API and ``brz diff`` for ``case``, after a checked warm-up of each."""
    path = f"/{case.codebase}/diff?old={quote(case.old, safe='')}&new={quote(case.new, safe='')}"
    api = partial(client.get, path)
    brz = partial(brz_diff, brz_env, case.branch, case.old, case.new)
    _, api_body = api()
    _, brz_body = brz()
    files = api_body.count(b"\n=== ") + api_body.startswith(b"=== ")
    same = strip_timestamps(api_body) == strip_timestamps(brz_body)
    report.check(same, f"diff {case.name}: API body equals brz diff apart from timestamps "
                       f"({len(api_body)} and {len(brz_body)} bytes)")
    report.setup.setdefault("diffs", {})[case.name] = dict(
        codebase=case.codebase, old=case.old, new=case.new, bytes=len(api_body), entries=files)
    times: dict[str, list[float]] = {"api": [], "brz": []}
    for rep in range(case.reps):
        order = (("api", api), ("brz", brz)) if rep % 2 else (("brz", brz), ("api", api))
        for key, run in order:
            times[key].append(run()[0])
    api_stat, brz_stat = summarise(times["api"]), summarise(times["brz"])
    label = f"diff {case.name} ({case.codebase}: {case.old[-6:]}..{case.new[-6:]})"
    size = f"{len(api_body):,} B, {files:,} entries"
    ratio = f"p50 x{api_stat.p50 / brz_stat.p50:.2f} of brz"
    report.rows.append(Row(label, "bzrstore GET /diff", api_stat, size, "-", ratio))
    report.rows.append(Row(label, "brz diff subprocess", brz_stat, size))


def measure_revinfo(report: Report, client: Client, codebase: str, old: str, new: str,
                    requests: int) -> None:
    """``GET /<cb>/revision-info`` over REVINFO_SPAN revisions, checked, ``requests`` times."""
    path = f"/{codebase}/revision-info?old={quote(old, safe='')}&new={quote(new, safe='')}"
    for _ in range(WARMUP):
        _, body = client.get(path)
    entries = json.loads(body)
    report.check(len(entries) == REVINFO_SPAN,
                 f"revision-info: {len(entries)} entries (expected {REVINFO_SPAN})")
    report.setup["revision_info"] = dict(codebase=codebase, old=old, new=new)
    stat = summarise([client.get(path)[0] for _ in range(requests)])
    target, result = verdict(report, stat, REVINFO_TARGET_MS)
    report.rows.append(Row(f"revision-info, {REVINFO_SPAN} revisions", "bzrstore", stat,
                           f"{len(body):,} B", target, result))


def expected_listing(label: str, names: list[str]) -> tuple[int, int]:
    """The total and the number of names on the page that ``label``'s query should answer."""
    page = 50 if label == "?page=50" else 1
    total = sum("python" in n for n in names) if label == "?q=python" else len(names)
    return total, max(0, min(100, total - (page - 1) * 100))


def check_listing(report: Report, backend: str, label: str, body: bytes, total: int,
                  names: list[str]) -> None:
    """The listing (a page of names; the total from X-Total-Count) matches the registry."""
    got = (total, len(json.loads(body)))
    want = expected_listing(label, names)
    report.check(got == want, f"listing {label} on {backend}: {got[1]} names of {got[0]} "
                              f"(expected {want[1]} of {want[0]})")


def measure_listings(report: Report, clients: dict[str, Client], names: list[str],
                     requests: int) -> None:
    """Each listing query on each backend, round-robin, ``requests`` times each."""
    times: dict[tuple[str, str], list[float]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for backend, client in clients.items():
        for label, path in LISTING_QUERIES.items():
            for _ in range(WARMUP):
                _, body = client.get(path, JSON_ACCEPT)
            check_listing(report, backend, label, body,
                          int(client.last_headers["X-Total-Count"]), names)
            times[backend, label], sizes[backend, label] = [], len(body)
    for _ in range(requests):
        for backend, client in clients.items():
            for label, path in LISTING_QUERIES.items():
                times[backend, label].append(client.get(path, JSON_ACCEPT)[0])
    for (backend, label), seconds in times.items():
        stat = summarise(seconds)
        target, result = verdict(report, stat, LISTING_TARGET_MS)
        report.rows.append(Row(f"GET /bzr/ JSON, {len(names):,} codebases, {label}", backend, stat,
                               f"{sizes[backend, label]:,} B", target, result))


# ------------------------------------------------------------------------- the run
def diff_cases(args: argparse.Namespace, medium: Path, large: Path) -> list[DiffCase]:
    """The small, large and import diffs, from the installed branches' history."""
    history, parents = mainline(medium)
    small_new = next(r for r in history if parents[r] == 1)
    small_old = history[history.index(small_new) + 1]
    large_history, _ = mainline(large)
    return [
        DiffCase("small", "medium", medium, small_old, small_new, args.reps),
        DiffCase("large", "medium", medium, history[-1], history[0], args.large_reps),
        DiffCase("import", "large", large, "null:", large_history[-1], args.large_reps),
    ]


def run(args: argparse.Namespace, workdir: Path, stack: ExitStack) -> Report:
    """Set the data up, start the servers and take every measurement."""
    report = Report()
    medium_meta, large_meta = revinfo_meta(args.tools), ensure_repo(args.tools, "--preset", "large")
    data = workdir / "data"
    medium, large = install(data, "medium", medium_meta), install(data, "large", large_meta)
    names = codebase_names(args.codebases, ["medium", "large"])
    t0 = time.perf_counter()
    register(data, names)
    report.setup["register_sqlite_seconds"] = round(time.perf_counter() - t0, 1)
    backends = {"sqlite": start_server(workdir, "sqlite", data)}
    stack.callback(backends["sqlite"].stop)
    if args.postgres_url:
        url = stack.enter_context(postgres.postgres_schema(args.postgres_url))
        t0 = time.perf_counter()
        register(data, names, url)
        report.setup["register_postgres_seconds"] = round(time.perf_counter() - t0, 1)
        backends["postgresql"] = start_server(workdir, "postgresql", data, url)
        stack.callback(backends["postgresql"].stop)
    clients = {name: Client(server.url) for name, server in backends.items()}
    brz_env = servers.Brz(workdir / "brz-home").env()
    report.setup.update(medium=medium_meta, large=large_meta, codebases=len(names))
    for case in diff_cases(args, medium, large):
        print(f"diff {case.name}: {case.reps} reps each", file=sys.stderr, flush=True)
        measure_diff(report, clients["sqlite"], brz_env, case)
    history, _ = mainline(medium)
    print(f"revision-info: {args.requests} requests", file=sys.stderr, flush=True)
    measure_revinfo(report, clients["sqlite"], "medium", history[REVINFO_SPAN], history[0],
                    args.requests)
    print(f"listings: {args.requests} requests each", file=sys.stderr, flush=True)
    measure_listings(report, clients, names, args.requests)
    return report


def markdown(report: Report, seconds: float) -> str:
    """The results table, the checks and the run's wall time."""
    lines = [
        "| measurement | what runs | n | p50 ms | p95 ms | min ms | max ms | size "
        "| target | result |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in report.rows:
        s = r.stat
        lines.append(f"| {r.measurement} | {r.how} | {s.n} | {s.p50:.1f} | {s.p95:.1f} "
                     f"| {s.min:.1f} | {s.max:.1f} | {r.size} | {r.target} | {r.result} |")
    lines += ["", *report.checks, "", f"run took {seconds:.0f} s"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=20,
                   help="runs of the small diff on each side (default %(default)s)")
    p.add_argument("--large-reps", type=int, default=3,
                   help="runs of the large and import diffs on each side (default %(default)s)")
    p.add_argument("--requests", type=int, default=200,
                   help="timed requests of each listing and of revision-info (default 200)")
    p.add_argument("--codebases", type=int, default=10_000,
                   help="codebases registered for the listing (default %(default)s)")
    p.add_argument("--postgres-url", default="",
                   help="also measure the listing on PostgreSQL (a fresh schema, dropped after)")
    p.add_argument("--out", type=Path,
                   help="results basename, .json and .md are added "
                        "(default benchmarks/results/api-<time>)")
    p.add_argument("--tools", type=Path, default=DEFAULT_TOOLS,
                   help="the shared tools directory holding gen_repo.py (default %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the run directory under /tmp")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 1 when a check or target failed."""
    args = parse_args(argv)
    if not (args.tools / "gen_repo.py").is_file():
        sys.exit(f"no gen_repo.py in {args.tools}; give the shared tools directory with --tools")
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-", dir="/tmp"))
    print(f"working in {workdir}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        with ExitStack() as stack:
            report = run(args, workdir, stack)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    md = markdown(report, time.perf_counter() - t0)
    print(md)
    out = args.out or HERE / "results" / f"api-{timestamp()}"
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.md").write_text(md)
    Path(f"{out}.json").write_text(json.dumps(
        dict(rows=[asdict(r) for r in report.rows], checks=report.checks, setup=report.setup),
        indent=1))
    print(f"wrote {out}.json and {out}.md", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
