#!/usr/bin/env python3
"""Server instructions per push and per hello under callgrind: a yardstick noise cannot move.

On this small, shared machine wall and CPU seconds of one push move by tens of percent
between runs; the instructions a server executes for the same push do not (valgrind's
callgrind counts them, whatever else runs). Each candidate serves its own copy of the
small bench repository under ``valgrind --tool=callgrind``; a development branch is
pushed twice to warm it (imports, caches, the first bcrypt), the serving process's
counters are zeroed, then ``--pushes`` pushes of 20 new revisions each (the same
revisions for every candidate) or ``--hellos`` smart hellos are counted::

    python benchmarks/bench_instructions.py [--op push|hello] [--before DIR]

Candidates: ``brz-serve``, ``stock-wsgi-gunicorn`` (Breezy's WSGI app), ``bzrstore-noauth``
(bzrstore's smart app alone), ``bzrstore`` (the whole app, authenticated pushes) and,
with ``--before DIR``, ``bzrstore-before`` (an earlier checkout's ``src``). gunicorn runs
one sync worker, so one process serves every request. Kernel time is not counted.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_store import BIN, DEFAULT_TOOLS, HERE, PASSWORD, WORKER, clean_environ, free_port

SMALL_REPO = Path("/tmp/bench-repos/small/repo")
PUSH_REVISIONS = 20
GUNICORN = ["-k", "sync", "-w", "1", "--timeout", "600"]
# Breezy writes its own log; the client's is not wanted.
CLIENT_ENV = {"BRZ_LOG": "/dev/null", "BRZ_EMAIL": "Bench <bench@example.com>"}


def candidate(name: str, work: Path, port: int, env: dict[str, str],
              before: Path | None) -> tuple[list[str], str]:
    """Lay down ``name``'s repository and return its server command and branch URL."""
    if name in ("bzrstore", "bzrstore-before"):
        data = work / "data"
        shutil.copytree(SMALL_REPO, data / "repos" / "repo", symlinks=True)
        src = before / "src" if name == "bzrstore-before" else HERE.parent / "src"
        env.update(BZRSTORE_DATA=str(data), PYTHONPATH=str(src))
        run = {"env": env, "check": True, "capture_output": True}
        subprocess.run([BIN / "bzrstore", "codebase", "add", "repo"], **run)
        subprocess.run([BIN / "bzrstore", "worker", "add", WORKER],
                       input=f"{PASSWORD}\n".encode(), **run)
        return ([str(BIN / "gunicorn"), *GUNICORN, "-b", f"127.0.0.1:{port}",
                 "bzrstore:create_app()"],
                f"http://{WORKER}:{PASSWORD}@127.0.0.1:{port}/bzr/repo/trunk")
    shutil.copytree(SMALL_REPO, work / "root" / "repo", symlinks=True)
    url = f"http://127.0.0.1:{port}/repo/trunk"
    if name == "brz-serve":
        return ([str(BIN / "brz"), "serve", "--allow-writes", "--listen", "127.0.0.1",
                 "--port", str(port), "--directory", str(work / "root")],
                f"bzr://127.0.0.1:{port}/repo/trunk")
    if name == "stock-wsgi-gunicorn":
        env.update(BENCH_ROOT=str(work / "root"), PYTHONPATH=str(DEFAULT_TOOLS))
        return [str(BIN / "gunicorn"), *GUNICORN, "-b", f"127.0.0.1:{port}", "stock_wsgi:app"], url
    env.update(BZRSTORE_NOAUTH_ROOT=str(work / "root"), PYTHONPATH=str(HERE))
    return [str(BIN / "gunicorn"), *GUNICORN, "-b", f"127.0.0.1:{port}", "noauth_wsgi:app"], url


def measure(name: str, op: str, count: int, before: Path | None) -> float:
    """Instructions the serving process ran per push (or per hello) for ``name``."""
    from bench import commit_batch, smart_hello  # the shared harness's client side

    with tempfile.TemporaryDirectory(prefix=f"bench-instr-{name}-") as tmp:
        work, port = Path(tmp), free_port()
        client_env = {**clean_environ(), "HOME": tmp, **CLIENT_ENV}
        env = dict(client_env)
        command, url = candidate(name, work, port, env, before)
        valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                    f"--callgrind-out-file={work}/callgrind.%p"]
        server = subprocess.Popen([*valgrind, sys.executable, *command], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        dev = work / "dev"
        subprocess.run([BIN / "brz", "branch", "-q", SMALL_REPO / "trunk", dev],
                       env=client_env, check=True)

        def push(tag: str) -> None:
            commit_batch(str(dev), PUSH_REVISIONS, tag)
            deadline = time.monotonic() + 300  # valgrind starts a server slowly
            while subprocess.run([BIN / "brz", "push", "-q", "-d", dev, url],
                                 env=client_env, capture_output=True).returncode:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: push failed")
                time.sleep(1)

        try:
            push("warm-1")
            push("warm-2")
            serving = psutil.Process(server.pid).children() or [psutil.Process(server.pid)]
            pid = str(serving[0].pid)
            subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
            if op == "push":
                for i in range(count):
                    push(f"push-{i}")
            else:
                smart_hello(url, count)
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
            dump = max(work.glob(f"callgrind.{pid}.*"), key=lambda p: p.stat().st_mtime)
            total = next(int(line.split()[1]) for line in dump.read_text().splitlines()
                         if line.startswith(("summary:", "totals:")))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()
        return total / count


def main() -> int:
    """Measure each candidate in turn and print a table with ratios to brz serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", choices=("push", "hello"), default="push")
    parser.add_argument("--pushes", type=int, default=3, help="counted pushes (--op push)")
    parser.add_argument("--hellos", type=int, default=200, help="counted hellos (--op hello)")
    parser.add_argument("--before", type=Path, help="an earlier bzrstore checkout")
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS,
                        help="the shared tools directory (bench.py, gen_repo.py)")
    args = parser.parse_args()
    if not (SMALL_REPO / "trunk").is_dir():
        parser.error(f"{SMALL_REPO} missing: run {args.tools}/gen_repo.py --preset small")
    sys.path.insert(0, str(args.tools))
    import gen_repo

    gen_repo.init_breezy()  # commit_batch runs Breezy in this process
    names = ["brz-serve", "stock-wsgi-gunicorn", "bzrstore-noauth", "bzrstore"]
    names += ["bzrstore-before"] if args.before else []
    count = args.pushes if args.op == "push" else args.hellos
    results = {name: measure(name, args.op, count, args.before) for name in names}
    unit, scale = ("M", 1e6) if args.op == "push" else ("K", 1e3)
    print(f"| candidate | {unit} instructions per {args.op} | × brz-serve | × stock |")
    print("|---|---:|---:|---:|")
    for name, value in results.items():
        print(f"| {name} | {value / scale:.1f} | {value / results['brz-serve']:.3f} | "
              f"{value / results['stock-wsgi-gunicorn']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
