"""Buffering choices of the shipped nginx site, measured: a large push and clone through it.

For each choice of ``proxy_request_buffering`` and ``proxy_buffering`` (and gunicorn
alone, for reference) this starts a fresh gunicorn and nginx on the shipped config
(tests/nginx.py), pushes a branch of random data (``--mb``, default 200) into an empty
codebase as a worker and clones it back anonymously, and reports the client's
seconds, the serving worker's RSS growth over idle, and how long the worker was busy
with its longest request (gunicorn's access log). ``--slow MB_PER_S`` also runs each
through a TCP relay that limits the client to that rate, to show which choice lets a
slow client pin a sync worker.

    python benchmarks/bench_nginx.py [--mb 200] [--slow 20]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from nginx import MB, Nginx, RssSampler, make_large_branch  # noqa: E402
from servers import BIN, Brz, Gunicorn  # noqa: E402

CHOICES = {  # name: (proxy_request_buffering, proxy_buffering); None = no nginx
    "gunicorn alone": None,
    "req on, resp on (shipped)": ("on", "on"),
    "req off, resp on": ("off", "on"),
    "req on, resp off": ("on", "off"),
    "req off, resp off": ("off", "off"),
}
CHUNK_BYTES = 64 * 1024


@dataclass
class Run:
    """One push or clone: client seconds, worker RSS growth, the worker's longest request."""

    choice: str
    op: str
    seconds: float
    growth: int
    busy_ms: int


class Relay:
    """A TCP relay to ``target`` that limits each direction to ``rate`` bytes a second."""

    def __init__(self, target: int, rate: int) -> None:
        self.target, self.rate = target, rate
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        start, sent = time.monotonic(), 0
        try:
            while data := src.recv(CHUNK_BYTES):
                dst.sendall(data)
                sent += len(data)
                time.sleep(max(0.0, sent / self.rate - (time.monotonic() - start)))
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        """Stop accepting."""
        self.sock.close()


def longest_request_ms(log: Path, since: int) -> int:
    """The longest request in gunicorn's access log written after byte ``since``."""
    text = log.read_bytes()[since:].decode(errors="replace")
    return max((int(m) for m in re.findall(r" (\d+)ms ", text)), default=0)


@contextmanager
def serving(workdir: Path, choice: tuple[str, str] | None) -> Iterator[tuple[Gunicorn, str]]:
    """gunicorn with a fresh codebase ``large``, behind nginx with ``choice`` unless None."""
    env = {**os.environ, "BZRSTORE_DATA": str(workdir / "data"),
           "GUNICORN_ACCESSLOG": str(workdir / "access.log")}
    for args, stdin in ((["codebase", "add", "large"], None), (["worker", "add", "w"], "pw\n")):
        subprocess.run([str(BIN / "bzrstore"), *args], env=env, input=stdin, text=True,
                       check=True, capture_output=True)
    with ExitStack() as stack:
        gunicorn = Gunicorn(env, workdir / "gunicorn.log").start()
        stack.callback(gunicorn.stop)
        url = gunicorn.url
        if choice is not None:
            directives = {"proxy_request_buffering": choice[0], "proxy_buffering": choice[1]}
            nginx = Nginx(workdir / "nginx", [f"127.0.0.1:{gunicorn.port}"],
                          directives=directives).start()
            stack.callback(nginx.stop)
            url = nginx.url
        yield gunicorn, url


def measure(brz: Brz, gunicorn: Gunicorn, name: str, op: str, args: list[str]) -> Run:
    """Run one brz command, sampling the gunicorn workers."""
    log = gunicorn.env["GUNICORN_ACCESSLOG"]
    since = Path(log).stat().st_size
    with RssSampler(gunicorn.worker_pids()) as sampler:
        start = time.perf_counter()
        brz.run(*args)
        seconds = time.perf_counter() - start
    time.sleep(0.2)  # the access log line is written after the last byte
    return Run(name, op, seconds, sampler.growth, longest_request_ms(Path(log), since))


def run_choice(name: str, choice: tuple[str, str] | None, branch: Path, brz: Brz,
               slow: int) -> list[Run]:
    """Push ``branch`` and clone it back through one choice (and a slow relay if asked)."""
    runs = []
    for rate in (0, slow) if slow else (0,):
        with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp, \
                serving(Path(tmp), choice) as (gunicorn, url):
            label = name + (f", client {rate // MB} MB/s" if rate else "")
            if rate:
                port = int(url.rsplit(":", 1)[1])
                relay = Relay(port, rate)
                url = url.replace(f":{port}", f":{relay.port}")
            brz.run("info", url + "/bzr/large")  # warm up a worker
            writer = url.replace("://", "://w:pw@") + "/bzr/large/trunk"
            runs.append(measure(brz, gunicorn, label, "push",
                                ["push", "-q", "--no-tree", "-d", branch, writer]))
            runs.append(measure(brz, gunicorn, label, "clone",
                                ["branch", "-q", "--no-tree", url + "/bzr/large/trunk",
                                 Path(tmp) / "clone"]))
            if rate:
                relay.close()
    return runs


def main(argv: list[str] | None = None) -> int:
    """Measure every choice and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="repository size in MB")
    parser.add_argument("--slow", type=int, default=0, help="also through a client at MB/s")
    parser.add_argument("--only", action="append", help="run only choices containing this")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-nginx-branch-") as tmp:
        brz = Brz(Path(tmp) / "home")
        conf = brz.home / ".config" / "breezy" / "breezy.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f"[DEFAULT]\nssl.ca_certs = {Path(tmp) / 'cert.pem'}\n")
        from nginx import TEST_CERT

        (Path(tmp) / "cert.pem").write_text(TEST_CERT)
        branch = Path(tmp) / "branch"
        start = time.perf_counter()
        make_large_branch(brz, branch, args.mb * MB)
        print(f"built a {args.mb} MB branch in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
        runs: list[Run] = []
        for name, choice in CHOICES.items():
            if args.only and not any(o in name for o in args.only):
                continue
            print(f"{name} ...", file=sys.stderr, flush=True)
            runs += run_choice(name, choice, branch, brz, args.slow * MB)
    print("| choice | op | client s | worker busy s | worker RSS growth MB |")
    print("|---|---|---:|---:|---:|")
    for r in runs:
        print(f"| {r.choice} | {r.op} | {r.seconds:.1f} | {r.busy_ms / 1000:.1f} "
              f"| {r.growth / MB:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
