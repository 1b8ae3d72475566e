#!/usr/bin/env python3
"""The file views under gunicorn on the medium bench repository: latency, annotate, tarball RSS.

Serves ``<repo>`` (``gen_repo.py``'s ``OUT/repo``, its branch ``trunk``) as codebase
``medium`` from a fresh data directory with the project's ``gunicorn.conf.py``, then:

- per page (tree at tip, a directory, a ~2,000-line file, annotate of the hot file, raw):
  the first answer, then p50/p95 of ``--n`` warm requests (full answers, no
  ``If-None-Match``) and of ``--n`` revalidations that get a 304;
- cold (empty caches): annotate of the hot file and of a ~2,000-line file, the view of a
  ~2,000-line Python file (Pygments);
- the tarball of the tip: time, size, and each worker's RSS before and at its peak
  (sampled every 20 ms while it streams).

Nothing is written outside ``--work``. bench_browse.py (h12c) compares with loggerhead.

    .venv/bin/python benchmarks/bench_files.py --repo /tmp/bench-repos/medium/repo
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PAGES = {
    "tree at tip": "files",
    "directory (32 entries)": "files/src/pkg00",
    "file, 2,006 lines (.txt)": "file/docs/sec11/f00960.txt",
    "file, 2,076 lines (.py, Pygments)": "file/src/pkg03/mod038/f01329.py",
    "annotate, hot file (274 versions)": "annotate/docs/sec00/f00000.txt",
    "raw, 109 KB": "raw/docs/sec11/f00960.txt",
}
COLD = ["annotate/docs/sec00/f00000.txt", "annotate/docs/sec11/f00960.txt",
        "file/src/pkg03/mod038/f01329.py"]
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], int, float]:
    """GET ``path``: status, headers, body size and seconds to the last byte."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers=headers or {"Accept": "text/html"})
    response = conn.getresponse()
    size = 0
    while chunk := response.read(256 * 1024):
        size += len(chunk)
    conn.close()
    return response.status, dict(response.getheaders()), size, time.perf_counter() - start


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def serve(work: Path, repo: Path) -> tuple[subprocess.Popen, int, dict[str, str]]:
    """A fresh data directory holding ``repo`` as codebase ``medium``, under gunicorn."""
    data = work / "data"
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": ""}
    subprocess.run([BIN / "bzrstore", "codebase", "add", "medium"], env=env, check=True,
                   capture_output=True)
    shutil.copytree(repo, data / "repos" / "medium", symlinks=True)
    port = free_port()
    server = subprocess.Popen(
        [BIN / "gunicorn", "-c", ROOT / "src" / "bzrstore" / "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}"], env=env, cwd=work, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(work / "gunicorn.log", "wb"))
    for _ in range(300):
        try:
            if get(port, "/health")[0] == 200:
                return server, port, env
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start: see " + str(work / "gunicorn.log"))


def workers_rss(server: subprocess.Popen) -> dict[int, int]:
    return {child.pid: child.memory_info().rss
            for child in psutil.Process(server.pid).children(recursive=True)}


def bench_pages(port: int, base: str, n: int) -> None:
    print(f"{'page':36} {'first':>8} {'p50':>7} {'p95':>7} {'304 p50':>8} {'304 p95':>8}  bytes")
    for label, url in PAGES.items():
        status, _, size, first = get(port, f"{base}/{url}")
        assert status == 200, (url, status)
        for _ in range(4):  # each of the workers
            get(port, f"{base}/{url}")
        full = [get(port, f"{base}/{url}")[3] for _ in range(n)]
        etag = get(port, f"{base}/{url}")[1]["ETag"]
        repeat = []
        for _ in range(n):
            status, _, _, seconds = get(port, f"{base}/{url}", {"Accept": "text/html",
                                                                "If-None-Match": etag})
            assert status == 304, (url, status)
            repeat.append(seconds)
        print(f"{label:36} {first * 1000:7.0f}ms {percentile(full, .5) * 1000:5.0f}ms "
              f"{percentile(full, .95) * 1000:5.0f}ms {percentile(repeat, .5) * 1000:6.0f}ms "
              f"{percentile(repeat, .95) * 1000:6.0f}ms  {size:,}")


def bench_tarball(server: subprocess.Popen, port: int, base: str) -> None:
    before = workers_rss(server)
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid, rss in workers_rss(server).items():
                peak[pid] = max(peak.get(pid, 0), rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    status, _, size, seconds = get(port, f"{base}/tarball")
    done.set()
    sampler.join()
    grown = max(peak[pid] - before.get(pid, 0) for pid in peak)
    print(f"tarball of the tip: {status}, {size / MIB:.1f} MiB in {seconds:.2f} s; "
          f"workers' RSS before {max(before.values()) / MIB:.0f} MiB, largest growth "
          f"{grown / MIB:.1f} MiB (peak {max(peak.values()) / MIB:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path("/tmp/bench-repos/medium/repo"))
    parser.add_argument("--n", type=int, default=40, help="timed requests per page")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-files-"))
    server, port, _ = serve(work, args.repo)
    base = "/bzr/medium/trunk/-"
    try:
        for url in COLD:
            status, _, _, seconds = get(port, f"{base}/{url}")
            print(f"cold {url}: {status} in {seconds * 1000:.0f} ms")
        bench_tarball(server, port, base)
        bench_pages(port, base, args.n)
        bench_tarball(server, port, base)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
