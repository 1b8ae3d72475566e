#!/usr/bin/env python3
"""bzrstore's benchmark: the shared harness with bzrstore beside the reference servers.

The default mode runs the shared ``bench.py`` once with the built-in candidates
(``stock-wsgi-gunicorn``, ``brz-serve``, ``local-file``) and two of the project's:
``bzrstore`` (the whole app, authenticated pushes) and ``bzrstore-noauth`` (its smart
app alone, no auth).  It prints bench.py's table, then the targets bzrstore must meet,
computed from bench.py's JSON.

``--push-large`` instead pushes the whole large preset branch into an empty codebase
(bench.py's push ops only ever send 20 new revisions) and clones it back, each on a
freshly started server, and reports how much the serving worker's RSS grew.

Run it with the Python of the venv bzrstore is installed in; see README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
DEFAULT_TOOLS = HERE.parent.parent / "shared" / "tools"
BIN = Path(sys.executable).parent
MB = 2**20

BUILTIN = ("stock-wsgi-gunicorn", "brz-serve", "local-file")
PROJECT = ("bzrstore", "bzrstore-noauth", "bzrstore-threads")
CANDIDATES = BUILTIN + PROJECT
# With --before DIR: the same app from an earlier checkout (DIR/src first on the path),
# so that a change's cost to honest clients is measured in the same run.
BEFORE = "bzrstore-before"
PUSH_LARGE_CANDIDATES = ("bzrstore", "stock-wsgi-gunicorn")

# The settings bench.py gives its stock-wsgi-gunicorn candidate: 2 sync workers.  bench.py
# also passes --no-control-socket, which only newer gunicorn releases than the project's
# (pinned below 24) understand; see gunicorn_options().
GUNICORN_SETTINGS = "--timeout 600 -k sync -w 2"
NO_CONTROL_SOCKET = "--no-control-socket"
WORKER, PASSWORD = "bench", "secret"

# bench.py placeholders ({root} {workdir} {port} {bin} {bench} {accesslog}) are filled in by
# bench.py.  It lays the shared repository down at {root}/repo, so the codebase is "repo": it
# is registered (which may create an empty repository), then replaced by bench.py's copy.
BZRSTORE_DATA = "{workdir}/data"
BZRSTORE_PREPARE = (
    f"export BZRSTORE_DATA={BZRSTORE_DATA}"
    " && {bin}/bzrstore codebase add repo"
    f" && rm -rf {BZRSTORE_DATA}/repos/repo && mkdir -p {BZRSTORE_DATA}/repos"
    f" && mv {{root}}/repo {BZRSTORE_DATA}/repos/repo"
    f" && echo {PASSWORD} | {{bin}}/bzrstore worker add {WORKER}"
)
# Breezy sends these Basic credentials once the server answers 401.
BZRSTORE_URL = f"http://{WORKER}:{PASSWORD}@127.0.0.1:{{port}}/bzr/{{path}}"

CLONE_OPS = ("clone", "clone-notree")
MEMORY_OPS = ("clone", "clone-notree", "push", "push-new")
CLONE_RATIO_MAX = 1.10
PUSH_AUTH_RATIO_MAX = 1.10
HELLO_RATIO_MIN = 0.9
# Bounds on hostile input must not cost honest clients more than this.
BEFORE_RATIO_MAX = 1.05
RSS_GROWTH_MAX = 100 * MB


# ------------------------------------------------------------------------- side by side
def gunicorn_options() -> str:
    """The gunicorn options of every gunicorn candidate: bench.py's stock settings, with
    --no-control-socket only if the venv's gunicorn knows it."""
    usage = subprocess.run(
        [str(BIN / "gunicorn"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    if NO_CONTROL_SOCKET in usage:
        return f"{NO_CONTROL_SOCKET} {GUNICORN_SETTINGS}"
    return GUNICORN_SETTINGS


def server_commands(options: str, before: Path | None = None) -> dict[str, str]:
    """bench.py --server commands of the gunicorn candidates, all with ``options``.

    The stock one restates bench.py's built-in command; it is used only when the venv's
    gunicorn lacks --no-control-socket, which the built-in passes.
    """
    gunicorn = f"{{bin}}/gunicorn {options} -b 127.0.0.1:{{port}} --access-logfile {{accesslog}}"
    bzrstore = f"BZRSTORE_DATA={BZRSTORE_DATA} {gunicorn} 'bzrstore:create_app()'"
    commands = {
        "stock-wsgi-gunicorn": f"BENCH_ROOT={{root}} {gunicorn} --chdir {{bench}} stock_wsgi:app",
        "bzrstore": bzrstore,
        # The worker class gunicorn.conf.py ships (gthread, 4 threads), where the others
        # run stock's sync workers.
        "bzrstore-threads": f"{bzrstore} -k bzrstore.node.workers.IdleLimitedThreads --threads 4",
        "bzrstore-noauth": f"BZRSTORE_NOAUTH_ROOT={{root}} {gunicorn}"
        f" --chdir {shlex.quote(str(HERE))} noauth_wsgi:app",
    }
    if before is not None:
        commands[BEFORE] = f"PYTHONPATH={shlex.quote(str(before / 'src'))} {bzrstore}"
    return commands


def bench_command(args: argparse.Namespace, names: list[str], out: Path) -> list[str]:
    """The bench.py command line that runs candidates ``names``."""
    options = gunicorn_options()
    servers = server_commands(options, args.before)
    builtin = [n for n in names if n in BUILTIN]
    if NO_CONTROL_SOCKET not in options and "stock-wsgi-gunicorn" in builtin:
        print(
            f"note: this gunicorn has no {NO_CONTROL_SOCKET}; running stock-wsgi-gunicorn "
            "with the same settings without it",
            file=sys.stderr,
        )
        builtin.remove("stock-wsgi-gunicorn")
    overridden = [n for n in names if n not in builtin]
    cmd = [
        sys.executable,
        str(args.tools / "bench.py"),
        "--preset",
        args.preset,
        "--reps",
        str(args.reps),
        "--out",
        str(out),
        "--candidates",
        ",".join(builtin),
    ]
    for name in overridden:
        cmd += ["--server", f"{name}={servers[name]}"]
    for name in ("bzrstore", "bzrstore-threads", BEFORE):
        if name in names:
            cmd += ["--prepare", f"{name}={BZRSTORE_PREPARE}", "--url", f"{name}={BZRSTORE_URL}"]
    if "stock-wsgi-gunicorn" in names:
        cmd += ["--baseline", "stock-wsgi-gunicorn"]
    if args.ops:
        cmd += ["--ops", args.ops]
    if args.keep:
        cmd.append("--keep")
    return cmd


def clean_environ() -> dict[str, str]:
    """This environment without BZRSTORE_* settings, so a developer's own (a PostgreSQL
    URL, a config file) cannot redirect the benchmarked app."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BZRSTORE_")}


def figure(res: dict[str, Any], name: str, op: str, key: str) -> tuple[float | None, str]:
    """Summary figure ``key`` of candidate ``name`` for ``op``, or None and why it is missing.

    The reason is also set when the figure exists but some runs of ``op`` failed.
    """
    cand = res["candidates"].get(name)
    if cand is None:
        return None, f"{name} not run"
    if cand.get("error"):
        return None, f"{name} did not start"
    summary = cand["ops"].get(op)
    if summary is None:
        return None, f"no {op} runs of {name}"
    if not summary["ok"]:
        last = ((summary.get("error") or "").strip().splitlines() or [""])[-1]
        return None, f"{name} {op} failed: {last[:120]}"
    partial = "" if summary["ok"] == summary["n"] else f"{name}: {summary['ok']}/{summary['n']} ok"
    return summary.get(key), partial


def verdict(value: float | None, passed: bool, problem: str) -> str:
    """PASS, FAIL or n/a, with the reason for anything short of a clean PASS."""
    if value is None:
        return f"n/a ({problem})"
    if problem:
        return f"FAIL ({problem})"
    return "PASS" if passed else "FAIL"


def ratio(res: dict[str, Any], op: str, key: str, num: str, den: str) -> tuple[float | None, str]:
    """``key`` of ``num`` over that of ``den`` for ``op``; a failure of ``num`` is a problem."""
    a, a_problem = figure(res, num, op, key)
    b, b_problem = figure(res, den, op, key)
    if a is None or b is None or not b:
        return None, a_problem or b_problem or f"{den} {op} {key} is 0"
    return a / b, a_problem


def target_lines(res: dict[str, Any]) -> list[str]:
    """One line per target bzrstore must meet, from bench.py's result dict."""
    lines = []
    for op in CLONE_OPS:
        value, problem = ratio(res, op, "median", "bzrstore", "brz-serve")
        shown = "-" if value is None else f"{value:.2f}"
        others = []
        for den in ("stock-wsgi-gunicorn", "local-file"):
            other, _ = ratio(res, op, "median", "bzrstore", den)
            if other is not None:
                others.append(f"/{den} {other:.2f}")
        extra = f"  [{', '.join(others)}]" if others else ""
        ok = value is not None and value <= CLONE_RATIO_MAX
        lines.append(
            f"{op:<13} median bzrstore/brz-serve {shown} (target <= {CLONE_RATIO_MAX:.2f})"
            f" {verdict(value, ok, problem)}{extra}"
        )
    # bench.py records the RSS of the whole server tree (gunicorn master and both workers,
    # either of which may serve part of one clone), so peak minus idle of the tree is an upper
    # bound on the serving worker's growth; --push-large measures each process separately.
    idle = res["candidates"].get("bzrstore", {}).get("idle_rss_sum")
    for op in MEMORY_OPS:
        peak, problem = figure(res, "bzrstore", op, "rss_sum")
        growth = None if peak is None or not idle else peak - idle
        if peak is not None and not idle:
            problem = "no idle RSS of bzrstore"
        shown = "-" if growth is None else f"{growth / MB:.0f} MB"
        ok = growth is not None and growth <= RSS_GROWTH_MAX
        notes = []
        largest, _ = figure(res, "bzrstore", op, "hwm_max")
        if largest is not None:
            notes.append(f"largest process peak {largest / MB:.0f} MB")
        if res["preset"] != "large":
            notes.append("target is set on the large preset")
        extra = f"  [{'; '.join(notes)}]" if notes else ""
        lines.append(
            f"{op:<13} bzrstore tree peak RSS over idle {shown} (target <= "
            f"{RSS_GROWTH_MAX // MB} MB) {verdict(growth, ok, problem)}{extra}"
        )
    value, problem = ratio(res, "push", "median", "bzrstore", "bzrstore-noauth")
    shown = "-" if value is None else f"{value:.2f}"
    ok = value is not None and value <= PUSH_AUTH_RATIO_MAX
    lines.append(
        f"{'push':<13} median bzrstore/bzrstore-noauth {shown} (target <= "
        f"{PUSH_AUTH_RATIO_MAX:.2f}) {verdict(value, ok, problem)}"
    )
    if BEFORE in res["candidates"]:
        for op in (*CLONE_OPS, "pull", "push"):
            value, problem = ratio(res, op, "median", "bzrstore", BEFORE)
            shown = "-" if value is None else f"{value:.3f}"
            ok = value is not None and value <= BEFORE_RATIO_MAX
            lines.append(
                f"{op:<13} median bzrstore/{BEFORE} {shown} (target <= "
                f"{BEFORE_RATIO_MAX:.2f}) {verdict(value, ok, problem)}"
            )
    value, problem = ratio(res, "hello", "per_s", "bzrstore", "stock-wsgi-gunicorn")
    shown = "-" if value is None else f"{value:.2f}"
    ok = value is not None and value >= HELLO_RATIO_MIN
    lines.append(
        f"{'hello':<13} req/s bzrstore/stock-wsgi-gunicorn {shown} (target >= "
        f"{HELLO_RATIO_MIN:.2f}) {verdict(value, ok, problem)}"
    )
    return lines


def run_side_by_side(args: argparse.Namespace, names: list[str]) -> int:
    """Run bench.py over ``names``, then print the targets; returns an exit status."""
    out = args.out or HERE / "results" / f"{args.preset}-{timestamp()}"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = bench_command(args, names, out.absolute())
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    rc = subprocess.run(cmd, env=clean_environ(), cwd=HERE, check=False).returncode
    if rc:
        print(f"bench.py exited with status {rc}", file=sys.stderr)
        return rc
    with open(f"{out}.json") as f:
        res = json.load(f)
    print(f"Targets ({res['preset']} preset, {res['reps']} reps, {out}.json):")
    for line in target_lines(res):
        print("  " + line)
    return 0


# ------------------------------------------------------------------------- --push-large
def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_large_repo(tools: Path) -> dict[str, Any]:
    """The large preset's metadata, generating the repository if it is not cached."""
    proc = subprocess.run(
        [sys.executable, "gen_repo.py", "--preset", "large"],
        cwd=tools,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(proc.stdout)


def run_brz(brz_args: list[str], scratch: Path) -> tuple[float, int, str]:
    """Run the venv's brz; returns (wall seconds, exit status, tail of its stderr)."""
    env = dict(
        clean_environ(), BRZ_LOG=str(scratch / "brz.log"), BRZ_EMAIL="Bench <bench@example.com>"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "brz"), *brz_args],
        cwd=scratch,
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    return time.perf_counter() - t0, proc.returncode, proc.stderr[-600:]


def tree_rss(root: psutil.Process) -> dict[int, int]:
    """RSS of ``root`` and its descendants, by pid."""
    rss = {}
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return rss
    for p in procs:
        try:
            rss[p.pid] = p.memory_info().rss
        except psutil.Error:
            pass
    return rss


class RssSampler:
    """Samples a process tree's RSS every ``interval`` seconds in a thread; keeps the peak
    of each process and of the tree's sum."""

    def __init__(self, root: psutil.Process, interval: float = 0.02) -> None:
        self.root, self.interval = root, interval
        self.peak_by_pid: dict[int, int] = {}
        self.peak_sum = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rss = tree_rss(self.root)
        for pid, value in rss.items():
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), value)
        self.peak_sum = max(self.peak_sum, sum(rss.values()))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@dataclass
class LargeServer:
    """How to run one candidate of --push-large: its command, environment and branch URL."""

    cmd: list[str]
    env: dict[str, str]
    base_url: str  # the (empty) shared repository the branch is pushed into
    port: int


@dataclass
class LargeRun:
    """One timed operation of --push-large on a freshly started server."""

    candidate: str
    op: str
    ok: bool
    seconds: float
    idle_sum: int
    peak_sum: int
    worker_growth: int  # largest peak-minus-idle of a single process: the serving worker
    retained: int  # largest RSS left above idle in a single process a second after the op
    error: str = field(default="")


def setup_bzrstore(workdir: Path, port: int) -> LargeServer:
    """An empty registered codebase ``large`` and a worker, served by bzrstore's app."""
    env = dict(clean_environ(), BZRSTORE_DATA=str(workdir / "data"))
    cli = str(BIN / "bzrstore")
    subprocess.run([cli, "codebase", "add", "large"], env=env, check=True, cwd=workdir)
    subprocess.run(
        [cli, "worker", "add", WORKER],
        env=env,
        check=True,
        cwd=workdir,
        input=f"{PASSWORD}\n",
        text=True,
    )
    cmd = [
        str(BIN / "gunicorn"),
        *shlex.split(gunicorn_options()),
        "-b",
        f"127.0.0.1:{port}",
        "bzrstore:create_app()",
    ]
    return LargeServer(cmd, env, f"http://{WORKER}:{PASSWORD}@127.0.0.1:{port}/bzr/large", port)


def setup_stock(workdir: Path, port: int, tools: Path) -> LargeServer:
    """An empty shared repository ``large`` served by the shared tools' stock WSGI app."""
    root = workdir / "root"
    root.mkdir()
    subprocess.run(
        [str(BIN / "brz"), "init-shared-repo", "-q", "--no-trees", str(root / "large")],
        check=True,
        env=clean_environ(),
    )
    cmd = [
        str(BIN / "gunicorn"),
        *shlex.split(gunicorn_options()),
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(tools),
        "stock_wsgi:app",
    ]
    env = dict(clean_environ(), BENCH_ROOT=str(root))
    return LargeServer(cmd, env, f"http://127.0.0.1:{port}/large", port)


@contextmanager
def running(server: LargeServer, workdir: Path) -> Iterator[psutil.Process]:
    """Start ``server``, wait until it answers and has been warmed up; stop it on exit."""
    with open(workdir / "server.log", "ab") as log:
        proc = subprocess.Popen(
            server.cmd,
            env=server.env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    root = psutil.Process(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited; see {workdir / 'server.log'}")
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not listen within 60 s") from None
                time.sleep(0.2)
        # Warm-up: a worker loads the app and answers; the repository is still empty.
        run_brz(["info", server.base_url], workdir)
        time.sleep(0.5)
        yield root
    finally:
        tree = [root, *root.children(recursive=True)] if root.is_running() else []
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for p in tree:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        proc.wait()


def measure_large(
    candidate: str, op: str, server: LargeServer, workdir: Path, brz_args: list[str]
) -> LargeRun:
    """Run ``brz_args`` against a fresh start of ``server``, sampling its RSS."""
    with running(server, workdir) as root:
        idle = tree_rss(root)
        with RssSampler(root) as sampler:
            seconds, rc, err = run_brz(brz_args, workdir)
        time.sleep(1.0)
        after = tree_rss(root)
    growth = max((sampler.peak_by_pid.get(pid, rss) - rss for pid, rss in idle.items()), default=0)
    retained = max((after.get(pid, rss) - rss for pid, rss in idle.items()), default=0)
    return LargeRun(
        candidate,
        op,
        rc == 0,
        seconds,
        sum(idle.values()),
        sampler.peak_sum,
        growth,
        retained,
        "" if rc == 0 else err.strip(),
    )


def push_large_candidate(name: str, branch: str, workdir: Path, tools: Path) -> list[LargeRun]:
    """Push the large branch into an empty repository of ``name``, then clone it back."""
    port = free_port()
    if name == "bzrstore":
        server = setup_bzrstore(workdir, port)
    else:
        server = setup_stock(workdir, port, tools)
    url = f"{server.base_url}/trunk"
    push = measure_large(
        name, "push", server, workdir, ["push", "--no-tree", "--no-remember", "-d", branch, url]
    )
    runs = [push]
    if push.ok:
        runs.append(
            measure_large(
                name,
                "clone-notree",
                server,
                workdir,
                ["branch", "--no-tree", url, str(workdir / "clone")],
            )
        )
    return runs


def large_markdown(runs: list[LargeRun], repo_mb: float) -> str:
    """A table of the --push-large runs."""
    lines = [
        f"### push-large (whole large branch, repository {repo_mb:.0f} MB)",
        "",
        "| candidate | op | ok | seconds | idle tree MB | peak tree MB "
        "| serving worker growth MB | retained MB |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.candidate} | {r.op} | {'ok' if r.ok else 'FAIL'} | {r.seconds:.1f} "
            f"| {r.idle_sum / MB:.0f} | {r.peak_sum / MB:.0f} "
            f"| {r.worker_growth / MB:.0f} | {r.retained / MB:.0f} |"
        )
    return "\n".join(lines) + "\n"


def run_push_large(args: argparse.Namespace, names: list[str]) -> int:
    """The --push-large mode; returns an exit status."""
    meta = ensure_large_repo(args.tools)
    runs: list[LargeRun] = []
    for name in names:
        workdir = Path(tempfile.mkdtemp(prefix=f"push-large-{name}-", dir="/tmp"))
        print(
            f"{name}: pushing and cloning the large branch in {workdir}",
            file=sys.stderr,
            flush=True,
        )
        try:
            runs += push_large_candidate(name, meta["branch"], workdir, args.tools)
        finally:
            if not args.keep:
                subprocess.run(["rm", "-rf", str(workdir)], check=False)
    for r in runs:
        if r.error:
            print(f"{r.candidate} {r.op} failed:\n  {r.error}", file=sys.stderr)
    md = large_markdown(runs, meta["repo_bytes"] / MB)
    print(md)
    print("Targets:")
    for r in runs:
        if r.candidate == "bzrstore":
            ok = r.ok and r.worker_growth <= RSS_GROWTH_MAX
            print(
                f"  {r.op:<13} bzrstore serving worker growth {r.worker_growth / MB:.0f} MB "
                f"(target <= {RSS_GROWTH_MAX // MB} MB) {'PASS' if ok else 'FAIL'}"
            )
    out = args.out or HERE / "results" / f"push-large-{timestamp()}"
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.md").write_text(md)
    Path(f"{out}.json").write_text(
        json.dumps(dict(repo=meta, runs=[asdict(r) for r in runs]), indent=1)
    )
    print(f"wrote {out}.json and {out}.md", file=sys.stderr)
    return 0 if all(r.ok for r in runs) else 1


# ------------------------------------------------------------------------- main
def timestamp() -> str:
    """Local time for result file names."""
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", default="medium", help="gen_repo.py preset (default medium)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each op (default 3)")
    p.add_argument("--ops", help="comma list of bench.py ops (default: all of them)")
    # --push-large always uses the large preset and runs each operation once.
    p.add_argument(
        "--candidates",
        help="comma list of: " + ", ".join(CANDIDATES) + " (default all; with "
        "--push-large: " + ", ".join(PUSH_LARGE_CANDIDATES) + ")",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="results basename, .json and .md are added "
        "(default benchmarks/results/<preset>-<time>)",
    )
    p.add_argument(
        "--before",
        type=Path,
        help=f"an earlier bzrstore checkout to run beside this one as {BEFORE!r}",
    )
    p.add_argument("--keep", action="store_true", help="keep the run directories under /tmp")
    p.add_argument(
        "--tools",
        type=Path,
        default=DEFAULT_TOOLS,
        help="the shared tools directory holding bench.py (default %(default)s)",
    )
    p.add_argument(
        "--push-large",
        action="store_true",
        help="push the whole large preset branch into an empty repository and "
        "clone it back, measuring the serving worker's RSS growth",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns an exit status."""
    args = parse_args(argv)
    allowed = PUSH_LARGE_CANDIDATES if args.push_large else CANDIDATES
    if args.before is not None and not args.push_large:
        allowed = (*allowed, BEFORE)
    names = args.candidates.split(",") if args.candidates else list(allowed)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        sys.exit(f"unknown candidate(s) {', '.join(unknown)}; choose from {', '.join(allowed)}")
    if not (args.tools / "bench.py").is_file():
        sys.exit(f"no bench.py in {args.tools}; give the shared tools directory with --tools")
    if any(n in PROJECT for n in names) and (
        importlib.util.find_spec("bzrstore") is None or not (BIN / "bzrstore").exists()
    ):
        sys.exit(f"bzrstore is not installed for {sys.executable}: pip install -e {HERE.parent}")
    if args.push_large:
        return run_push_large(args, names)
    return run_side_by_side(args, names)


if __name__ == "__main__":
    sys.exit(main())
