"""The server side of bench_load.py: bzrstore under the shipped gunicorn.conf.py, and what
it cost (peak RSS and CPU of the gunicorn process tree, per-request time and 5xx from the
access log)."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import threading
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from nginx import Nginx, free_port
from servers import BIN, ROOT, Gunicorn

WORKER = ("bench", "secret")
# gunicorn.conf.py's access_log_format: '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'.
ACCESS_LINE = re.compile(r'^\S+ "(\S+) (\S+) [^"]*" (\d{3}) \S+ (\d+)ms ')


@dataclass
class Server:
    """A started store: where clients reach it, and where it keeps its data and log."""

    gunicorn: Gunicorn
    data: Path
    access_log: Path
    public: str  # gunicorn, or nginx in front of it
    internal: str | None  # the internal listener when the server has one
    via_nginx: bool


def start_server(stack: ExitStack, workdir: Path, repo: Path, codebases: list[str],
                 nginx: bool) -> Server:
    """bzrstore with ``codebases`` (each a copy of the bench repository) and worker ``bench``."""
    data, access_log = workdir / "data", workdir / "access.log"
    internal_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BZRSTORE_")}
    env.update(BZRSTORE_DATA=str(data), GUNICORN_ACCESSLOG=str(access_log),
               BZRSTORE_INTERNAL_BIND=f"127.0.0.1:{internal_port}")
    cli = [str(BIN / "bzrstore")]
    subprocess.run([*cli, "codebase", "add", *codebases], env=env, check=True,
                   capture_output=True)
    subprocess.run([*cli, "worker", "add", WORKER[0]], env=env, input=WORKER[1] + "\n",
                   text=True, check=True, capture_output=True)
    for name in codebases:
        target = data / "repos" / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(repo, target)
    port = free_port()
    command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
               "--bind", f"127.0.0.1:{port}"]
    server = Gunicorn(env, workdir / "gunicorn.log", command=command, port=port).start()
    stack.callback(server.stop)
    internal = f"http://127.0.0.1:{internal_port}"
    public = server.url
    if nginx:
        proxy = Nginx(workdir / "nginx", [f"127.0.0.1:{port}"]).start()
        stack.callback(proxy.stop)
        public = proxy.url
    return Server(server, data, access_log, public, internal if answers(internal) else None,
                  nginx)


def answers(url: str) -> bool:
    """Whether ``url``/health answers 200."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class TreeSampler:
    """Samples a process tree in a thread: peak total RSS, peak RSS of one process, and CPU
    seconds of every pid seen."""

    root: int
    interval: float = 0.2
    peak_rss: int = 0
    peak_process_rss: int = 0
    cpu: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._baseline = self._sample()
        self._machine = psutil.cpu_times()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> float:
        try:
            root = psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return sum(self.cpu.values())
        rss = 0
        for proc in procs:
            try:
                with proc.oneshot():
                    one = proc.memory_info().rss
                    rss += one
                    self.peak_process_rss = max(self.peak_process_rss, one)
                    times = proc.cpu_times()
                    # A recycled worker's time is lost after its last sample: at most interval.
                    self.cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                pass
        self.peak_rss = max(self.peak_rss, rss)
        return sum(self.cpu.values())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> tuple[float, float]:
        """Stop sampling; the server's CPU seconds and the whole machine's busy seconds."""
        self._stop.set()
        self._thread.join()
        server = self._sample() - self._baseline
        now = psutil.cpu_times()
        busy = sum(now) - sum(self._machine) - (now.idle - self._machine.idle) - (
            getattr(now, "iowait", 0) - getattr(self._machine, "iowait", 0))
        return server, busy


@dataclass
class AccessStats:
    """The access log, summed up: requests, 5xx, server time per request kind (ms)."""

    requests: int = 0
    errors_5xx: int = 0
    times: dict[str, list[int]] = field(default_factory=dict)


def request_kind(method: str, path: str) -> str:
    """Which kind of request a logged request line is, for per-kind server times."""
    path = path.split("?", 1)[0]
    if path.endswith("/.bzr/smart"):
        return "smart POST"
    for suffix in ("/diff", "/revision-info", "/repositories"):
        if path.endswith(suffix):
            return suffix[1:]
    return "listing" if path in ("/", "/bzr/") else f"other {method}"


def read_access_log(path: Path) -> AccessStats:
    """Parse gunicorn's access log (the project's format)."""
    stats = AccessStats()
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines():
        match = ACCESS_LINE.match(line)
        if not match:
            continue
        method, target, status, ms = match.groups()
        stats.requests += 1
        stats.errors_5xx += status.startswith("5")
        stats.times.setdefault(request_kind(method, target), []).append(int(ms))
    return stats


def nginx_5xx(workdir: Path) -> int:
    """5xx answers in nginx's access log (its own 502/504s never reach gunicorn's)."""
    log = workdir / "nginx" / "access.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(r'^\S+ \S+ \S+ \[[^]]*\] "[^"]*" 5\d\d ', text, re.MULTILINE))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, by nearest rank; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    """The median, 0 when empty."""
    return statistics.median(values) if values else 0.0
