"""A real nginx running the shipped site config (deploy/nginx/) in front of test servers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from servers import ROOT, Brz, stop_group

NGINX = Path(os.environ.get("BZRSTORE_TEST_NGINX")
             or shutil.which("nginx") or "/usr/sbin/nginx")
DEPLOY = ROOT / "deploy" / "nginx"
SITE = DEPLOY / "bzrstore.conf"
CLUSTER_SITE = DEPLOY / "bzrstore-cluster.conf"
LOCATIONS = DEPLOY / "bzrstore-locations.conf"
PINS = DEPLOY / "bzrstore-pins.map"
PINS_INSTALLED = "/etc/nginx/bzrstore-pins.map"
START_TIMEOUT_SECONDS = 30

# A throwaway self-signed certificate for 127.0.0.1 and localhost (EC P-256, valid
# until 2126), so the shipped TLS server block runs as it is.
TEST_CERT = """\
-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUHtVlAvF9rTf6q8a69pPVTV+4+nMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyODA3MzczM1oYDzIxMjYxMTA0
MDczNzMzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASjB+3+3owlX5vnyrIPS/G+wWX/SwuIeLfXcnhZ+MhqeNrWLOKbYFML
d7u+hT0iJjz3MA+TKi6wDMr39YM4oZkOo28wbTAdBgNVHQ4EFgQUTBoF5dV9QVox
kjrN8BhltUbbxu8wHwYDVR0jBBgwFoAUTBoF5dV9QVoxkjrN8BhltUbbxu8wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIgeP3yN8LTXoMs5jsVhviEUK34bVkiYlPQIt9CfQ6ZTl8CIQCw
OMglcYd/h3luQ7NuBdIwczMd8UQEKq/vuSk6VgGEOQ==
-----END CERTIFICATE-----
"""
TEST_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgx2jl4Tt03EqLXsMZ
l75iwtm9Pig/sn+XTj+gXLpBhpmhRANCAASjB+3+3owlX5vnyrIPS/G+wWX/SwuI
eLfXcnhZ+MhqeNrWLOKbYFMLd7u+hT0iJjz3MA+TKi6wDMr39YM4oZkO
-----END PRIVATE KEY-----
"""

# The wrapper around the site: everything a distribution's nginx.conf provides,
# with every path inside the test's directory.
NGINX_CONF = """\
daemon off;
{user}
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include sites/{site};
}}
"""


def free_port() -> int:
    """A loopback port that was free a moment ago (nginx cannot listen on port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tls_context() -> ssl.SSLContext:
    """A TLS client context that trusts the test certificate."""
    return ssl.create_default_context(cadata=TEST_CERT)


def trusting_brz(home: Path) -> Brz:
    """The brz command line, trusting the test certificate nginx presents."""
    client = Brz(home)
    conf = home / ".config" / "breezy" / "breezy.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    (home / "cert.pem").write_text(TEST_CERT)
    conf.write_text(f"[DEFAULT]\nssl.ca_certs = {home / 'cert.pem'}\n")
    return client


def replace_exactly(text: str, pattern: str, replacement: str, count: int | None = None) -> str:
    """``re.subn`` that fails when the shipped config no longer has what the test changes."""
    result, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if not found or (count is not None and found != count):
        raise AssertionError(f"{pattern!r} found {found} times in the shipped config")
    return result


@dataclass
class Nginx:
    """nginx on free loopback ports running a shipped site file with its upstreams replaced.

    Only ports and paths change: the ``listen`` ports, the node addresses (the
    shipped file's distinct ``server`` addresses, in order, become ``upstreams``)
    and the certificate and pin file paths. ``directives`` replaces the value of
    directives in the locations file (for benchmarks of other buffering choices).
    """

    workdir: Path
    upstreams: list[str]
    site: Path = SITE
    directives: dict[str, str] = field(default_factory=dict)
    http_port: int = 0
    https_port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The TLS site, as clients use it."""
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        """The plain-HTTP server, which redirects to ``url``."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def cert(self) -> Path:
        """The certificate nginx presents, for clients to trust."""
        return self.workdir / "cert.pem"

    def render(self) -> Path:
        """Write the templated site, the locations snippet and the wrapper; return the wrapper."""
        self.http_port = self.http_port or free_port()
        self.https_port = self.https_port or free_port()
        for sub in ("sites", "snippets", "tmp"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.cert.write_text(TEST_CERT)
        (self.workdir / "key.pem").write_text(TEST_KEY)

        site = self.site.read_text()
        host = "127.0.0.1"
        site = replace_exactly(site, r"^(\s*)listen 80;", rf"\1listen {host}:{self.http_port};")
        site = replace_exactly(site, r"^(\s*)listen 443 ", rf"\1listen {host}:{self.https_port} ")
        site = replace_exactly(site, r"^(\s*ssl_certificate)\s+\S+;", rf"\1 {self.cert};", 1)
        site = replace_exactly(site, r"^(\s*ssl_certificate_key)\s+\S+;",
                               rf"\1 {self.workdir / 'key.pem'};", 1)
        shipped = list(dict.fromkeys(re.findall(r"^\s*server\s+(\S+:\d+)", site, re.MULTILINE)))
        if len(shipped) != len(self.upstreams):
            raise AssertionError(f"{self.site.name} has nodes {shipped}, not {len(self.upstreams)}")
        for old, new in zip(shipped, self.upstreams, strict=True):
            site = site.replace(old, new)
        if PINS_INSTALLED in site:
            site = site.replace(PINS_INSTALLED, str(self.pins_file))
            if not self.pins_file.exists():
                shutil.copyfile(PINS, self.pins_file)
        (self.workdir / "sites" / self.site.name).write_text(site)

        locations = LOCATIONS.read_text()
        for name, value in self.directives.items():
            locations = replace_exactly(locations, rf"^(\s*{name})\s+[^;]+;", rf"\1 {value};", 1)
        (self.workdir / "snippets" / LOCATIONS.name).write_text(locations)

        conf = self.workdir / "nginx.conf"
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(dir=self.workdir, user=user, site=self.site.name))
        return conf

    @property
    def pins_file(self) -> Path:
        """The cluster site's pin map (a copy of the shipped, empty one)."""
        return self.workdir / PINS.name

    def pin(self, codebase: str, node: str | None) -> None:
        """Pin ``codebase`` to ``node`` (None: unpin it) as an operator would; reload."""
        lines = [line for line in self.pins_file.read_text().splitlines(keepends=True)
                 if not line.startswith(f"{codebase} ")]
        if node is not None:
            lines.append(f"{codebase} {node};\n")
        self.pins_file.write_text("".join(lines))
        self.reload()

    def reload(self) -> None:
        """Check the configuration and reload it (``nginx -t``, then SIGHUP), as ``-s reload``."""
        conf = self.workdir / "nginx.conf"
        subprocess.run([str(NGINX), "-t", "-q", "-p", str(self.workdir), "-c", str(conf)],
                       check=True, capture_output=True, timeout=30)
        old_workers = set(self.worker_pids())
        os.kill(self.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while set(self.worker_pids()) & old_workers:  # new workers have the new config
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not reload:\n{self.log()}")
            time.sleep(0.05)

    def start(self) -> Nginx:
        """Start nginx and wait until it proxies /health to an upstream."""
        if not NGINX.exists():
            raise FileNotFoundError(f"{NGINX} is not installed")
        conf = self.render()
        log = (self.workdir / "nginx.out").open("ab")
        self.proc = subprocess.Popen(
            [str(NGINX), "-p", str(self.workdir), "-c", str(conf)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5,
                                        context=tls_context()) as response:
                return response.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def log(self) -> str:
        """nginx's own output and error log."""
        parts = [self.workdir / "nginx.out", self.workdir / "error.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def worker_pids(self) -> list[int]:
        """Pids of nginx's worker processes."""
        import psutil

        return [child.pid for child in psutil.Process(self.proc.pid).children()]

    def stop(self) -> None:
        """Stop nginx (at once: SIGTERM) and wait for it."""
        stop_group(self.proc)


# --- a large push and clone: building the branch, watching the workers' memory ------

MB = 1024**2


def make_large_branch(brz: Brz, path: Path, total_bytes: int, commits: int = 4,
                      file_bytes: int = 8 * MB) -> list[str]:
    """A standalone branch whose repository is about ``total_bytes`` of random data."""
    brz.run("init", "-q", path)
    per_commit = total_bytes // commits
    for n in range(commits):
        for i in range(max(1, per_commit // file_bytes)):
            (path / f"blob-{n}-{i}.bin").write_bytes(os.urandom(file_bytes))
        brz.run("add", "-q", cwd=path)
        brz.run("commit", "-q", "-m", f"large commit {n}", cwd=path)
    return brz.revision_ids(path)


class RssSampler:
    """Samples the RSS of some processes in a thread; keeps each one's idle value and peak."""

    def __init__(self, pids: list[int], interval: float = 0.02) -> None:
        import psutil

        self.procs = [psutil.Process(pid) for pid in pids]
        self.idle = {p.pid: p.memory_info().rss for p in self.procs}
        self.peak = dict(self.idle)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        for proc in self.procs:
            try:
                self.peak[proc.pid] = max(self.peak[proc.pid], proc.memory_info().rss)
            except psutil.Error:
                pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    @property
    def growth(self) -> int:
        """The largest growth of one process over its idle RSS: the serving worker's."""
        return max(self.peak[pid] - self.idle[pid] for pid in self.idle)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
