"""What ``bench_hostile.py`` measures while an attack runs: the server's memory and CPU, and
how fast ``/health`` still answers."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import psutil
from bench_store import MB, tree_rss

HEALTH_INTERVAL_SECONDS = 0.1
HEALTH_TIMEOUT_SECONDS = 5.0  # a /health slower than this counts as this long
SAMPLE_SECONDS = 0.02  # bench.py's RSS sampling interval


class Probe:
    """Peak RSS growth (per process) and CPU seconds of a server's tree, while an attack runs."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.before = tree_rss(root)
        self.peak: dict[int, int] = dict(self.before)
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        for pid in self.before:
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM
            except OSError:
                pass
        self.cpu0 = self._cpu()
        self._thread.start()
        return self

    def _cpu(self) -> dict[int, float]:
        seen: dict[int, float] = {}
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                seen[proc.pid] = times.user + times.system
            except psutil.Error:
                pass
        return seen

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            for pid, rss in tree_rss(self.root).items():
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self.cpu.update(self._cpu())  # the last figure of a worker that is killed later

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu.update(self._cpu())
        for pid in self.peak:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
            self.peak[pid] = max(self.peak[pid], int(hwm.split()[1]) * 1024)

    @property
    def growth_mib(self) -> float:
        """Largest peak-minus-start of one process (a new worker counts from its start)."""
        base = min(self.before.values(), default=0)
        return max((peak - self.before.get(pid, base)) / MB for pid, peak in self.peak.items())

    @property
    def cpu_seconds(self) -> float:
        return sum(cpu - self.cpu0.get(pid, 0.0) for pid, cpu in self.cpu.items())


class HealthPoller:
    """GET /health every 0.1 s in a thread; keeps each latency (no answer counts as the timeout)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(HEALTH_INTERVAL_SECONDS):
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=HEALTH_TIMEOUT_SECONDS)
                conn.request("GET", "/health")  # stock answers 404: still an answer
                conn.getresponse().read()
                conn.close()
                ok = True
            except OSError:
                ok = False
            self.latencies.append(time.monotonic() - started if ok else HEALTH_TIMEOUT_SECONDS)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies) or [0.0]
        return 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
