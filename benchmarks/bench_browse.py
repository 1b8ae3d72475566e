#!/usr/bin/env python3
"""The code browser beside loggerhead 2.0.3: the same branch, the same pages, one run.

The medium preset's trunk (2,000 revisions, ~2,000 files) is served by bzrstore (the
project's ``gunicorn.conf.py``, 2 workers, the page budget off) and by loggerhead 2.0.3
(``loggerhead-serve`` from PyPI, in its own venv under /tmp: a peer, never a
dependency). Each page type is fetched a few times from both to warm them, then timed
round-robin, alternating which server goes first; both process trees are sampled for
their peak RSS throughout. It prints p50/p95 per page type and server, loggerhead's p50
as a multiple of bzrstore's, and the targets: bzrstore at least 3x faster at p50 and no
page over 300 ms at p95.

Run it with the Python of the venv bzrstore is installed in; see README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench_api import Client, Stat, register, summarise
from bench_store import DEFAULT_TOOLS, HERE, clean_environ, timestamp

sys.path.insert(0, str(HERE.parent / "tests"))
from load_server import TreeSampler  # noqa: E402

from nginx import free_port  # noqa: E402
from servers import Gunicorn  # noqa: E402

LOGGERHEAD = "loggerhead==2.0.3"
DEFAULT_LOGGERHEAD_VENV = Path("/tmp/bench-loggerhead-2.0.3")
CODEBASE, BRANCH = "medium", "trunk"
SPEEDUP_MIN = 3.0
P95_MAX_MS = 300.0
# bzrstore shows 50 mainline revisions a page; page 10 starts at the 451st newest.
BZ_PAGE_SIZE = 50
DEEP_PAGE = 10
FILE_LINES = 2000
HTML = {"Accept": "text/html"}
LINK_DATA = re.compile(r"var link_data = (\{.*?\});", re.DOTALL)
MB = 2**20


@dataclass
class PageType:
    """One row: what bzrstore is asked, what loggerhead is asked for the same thing."""

    name: str
    bzrstore: str
    loggerhead: str
    note: str = ""


@dataclass
class Row:
    """The figures of one page type."""

    page: str
    bzrstore: Stat | None  # None: bzrstore does not serve this page (yet)
    loggerhead: Stat
    bytes_bzrstore: int
    bytes_loggerhead: int
    note: str

    @property
    def speedup(self) -> float:
        """loggerhead's p50 as a multiple of bzrstore's (0 when bzrstore has no such page)."""
        return self.loggerhead.p50 / self.bzrstore.p50 if self.bzrstore else 0.0


# ------------------------------------------------------------------------- the branch
def ensure_repo(tools: Path, repo_dir: Path) -> Path:
    """The medium preset under ``repo_dir`` (gen_repo.py makes it the first time)."""
    if not (repo_dir / "meta.json").exists():
        print(f"generating the medium preset in {repo_dir} (minutes)", file=sys.stderr)
        subprocess.run([sys.executable, str(tools / "gen_repo.py"), "--preset", "medium",
                        "--out", str(repo_dir)], check=True, stdout=subprocess.DEVNULL)
    return repo_dir / "repo"


def pick_pages(branch_dir: Path) -> dict[str, Any]:
    """The revision, the ~2,000-line file and the hot file the pages are about."""
    import breezy.bzr  # noqa: F401 - registers the Bazaar formats
    from breezy.branch import Branch

    branch = Branch.open(str(branch_dir))
    with branch.lock_read():
        repo = branch.repository
        tip_revno, tip = branch.last_revision_info()
        revno, revid = tip_revno, tip
        while True:  # the newest mainline revision with one parent that edits text
            rev = repo.get_revision(revid)
            delta = repo.get_revision_delta(revid)
            if len(rev.parent_ids) == 1 and delta.modified:
                break
            revid, revno = rev.parent_ids[0], revno - 1
        tree = repo.revision_tree(tip)
        files = [(path, entry.file_id) for path, entry in tree.iter_entries_by_dir()
                 if entry.kind == "file"]
        versions: dict[bytes, int] = {}
        for file_id, _ in repo.texts.keys():
            versions[file_id] = versions.get(file_id, 0) + 1
        hot_path, hot_id = max(files, key=lambda f: versions.get(f[1], 0))
        lines = {}
        for path, _ in files:
            text = tree.get_file_text(path)
            if b"\0" not in text[:8000]:  # Breezy's own test for a binary file
                lines[path] = text.count(b"\n")
    long_path = min(lines, key=lambda p: abs(lines[p] - FILE_LINES))
    return dict(tip_revno=tip_revno, revno=revno, revid=revid.decode(),
                files_changed=len(delta.modified), hot=hot_path,
                hot_versions=versions[hot_id], long=long_path, long_lines=lines[long_path])


def page_types(picked: dict[str, Any]) -> list[PageType]:
    """The six page types, as each server spells them."""
    bz, lh = f"/bzr/{CODEBASE}/{BRANCH}/-", f"/repo/{BRANCH}"
    deep_revno = picked["tip_revno"] - (DEEP_PAGE - 1) * BZ_PAGE_SIZE
    long, hot = quote(picked["long"]), quote(picked["hot"])
    return [
        PageType("changes, page 1", f"{bz}/changes", f"{lh}/changes",
                 "bzrstore 50 revisions a page, loggerhead 20"),
        PageType(f"changes, page {DEEP_PAGE}", f"{bz}/changes?page={DEEP_PAGE}",
                 f"{lh}/changes/{deep_revno}", f"loggerhead from revno {deep_revno}"),
        PageType(f"revision {picked['revno']} with its diff",
                 f"{bz}/revision/{picked['revno']}", f"{lh}/revision/{picked['revno']}",
                 f"{picked['files_changed']} files; loggerhead: the page, then each"
                 " file's +filediff (its diffs load on demand)"),
        PageType("file tree at tip", f"{bz}/files", f"{lh}/files"),
        PageType(f"file view, {picked['long_lines']:,} lines", f"{bz}/file/{long}",
                 f"{lh}/view/head:/{long}", picked["long"]),
        PageType(f"annotate, hot file ({picked['hot_versions']} versions)",
                 f"{bz}/annotate/{hot}", f"{lh}/annotate/head:/{hot}", picked["hot"]),
    ]


# ------------------------------------------------------------------------- the servers
def ensure_loggerhead(venv: Path) -> Path:
    """``loggerhead-serve`` of ``venv``, installed there from PyPI the first time."""
    serve = venv / "bin" / "loggerhead-serve"
    if not serve.exists():
        print(f"installing {LOGGERHEAD} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LOGGERHEAD], check=True)
    return serve


def start_bzrstore(workdir: Path, repo: Path, stack: ExitStack) -> Gunicorn:
    """bzrstore over a hard-linked copy of ``repo`` as codebase ``medium``, page budget off."""
    data = workdir / "data"
    (data / "repos").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(repo), str(data / "repos" / CODEBASE)], check=True)
    register(data, [CODEBASE])
    env = dict(clean_environ(), BZRSTORE_DATA=str(data), BZRSTORE_PAGE_BUDGET="0",
               GUNICORN_ACCESSLOG=str(workdir / "access-bzrstore.log"),
               # No recycling mid-measurement: a fresh worker's first requests are slow.
               GUNICORN_MAX_REQUESTS="0")
    server = Gunicorn(env, workdir / "gunicorn.log", workers=2).start()
    stack.callback(server.stop)
    return server


@dataclass
class Loggerhead:
    """loggerhead-serve over a directory, on a free loopback port."""

    proc: subprocess.Popen
    url: str

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_loggerhead(serve: Path, workdir: Path, repo: Path, stack: ExitStack) -> Loggerhead:
    """loggerhead-serve (its SQL cache on) over a hard-linked copy of ``repo``."""
    root = workdir / "loggerhead"
    root.mkdir()
    subprocess.run(["cp", "-al", str(repo), str(root / "repo")], check=True)
    port = free_port()
    log = (workdir / "loggerhead.log").open("ab")
    proc = subprocess.Popen(
        [str(serve), "--host", "127.0.0.1", "--port", str(port),
         "--cache-dir", str(workdir / "loggerhead-cache"), str(root)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        start_new_session=True)
    log.close()
    server = Loggerhead(proc, f"http://127.0.0.1:{port}")
    stack.callback(server.stop)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/repo/{BRANCH}/changes", timeout=60):
                return server
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("loggerhead did not start:\n"
                                   + (workdir / "loggerhead.log").read_text()) from None
            time.sleep(0.2)


# ------------------------------------------------------------------------- measuring
def fetch_loggerhead(client: Client, path: str) -> tuple[float, bytes]:
    """A loggerhead page; for a revision, its page and then every file's diff."""
    seconds, body = client.get(path, HTML)
    if "/revision/" not in path:
        return seconds, body
    match = LINK_DATA.search(body.decode("utf-8", "replace"))
    for link in json.loads(match.group(1)).values() if match else ():
        more, diff = client.get(f"/repo/{BRANCH}/+filediff/{link}?context=3", HTML)
        seconds, body = seconds + more, body + diff
    return seconds, body


def measure(page: PageType, bz: Client, lh: Client, warmup: int, requests: int) -> Row:
    """Warm both up on ``page``, then time them round-robin, alternating who goes first."""
    sides = {"bzrstore": lambda: bz.get(page.bzrstore, HTML),
             "loggerhead": lambda: fetch_loggerhead(lh, page.loggerhead)}
    sizes = {"bzrstore": 0}
    for name, fetch in list(sides.items()):
        try:
            for _ in range(warmup):
                sizes[name] = len(fetch()[1])
        except RuntimeError as exc:  # not a 200: a page bzrstore lacks is reported, not timed
            if name == "loggerhead":
                raise
            print(f"  bzrstore: {exc}", file=sys.stderr)
            del sides[name]
    times: dict[str, list[float]] = {name: [] for name in sides}
    for rep in range(requests):
        for name in (sorted(sides) if rep % 2 else sorted(sides, reverse=True)):
            times[name].append(sides[name]()[0])
    bz_stat = summarise(times["bzrstore"]) if "bzrstore" in times else None
    return Row(page.name, bz_stat, summarise(times["loggerhead"]), sizes["bzrstore"],
               sizes["loggerhead"], page.note)


def markdown(rows: list[Row], rss: dict[str, tuple[int, int, int]], picked: dict[str, Any],
             seconds: float) -> tuple[str, bool]:
    """The table, the memory lines and the targets; and whether every target passed."""
    lines = ["| page | bzrstore p50 / p95 ms | loggerhead p50 / p95 ms | loggerhead ÷ bzrstore"
             " (p50) | bytes bzrstore / loggerhead | targets |",
             "|---|---:|---:|---:|---:|---|"]
    ok = True
    for r in rows:
        lh = f"{r.loggerhead.p50:.1f} / {r.loggerhead.p95:.1f}"
        if r.bzrstore is None:
            ok = False
            lines.append(f"| {r.page} | not served | {lh} | - | - / {r.bytes_loggerhead:,} "
                         "| FAIL |")
            continue
        fast, bounded = r.speedup >= SPEEDUP_MIN, r.bzrstore.p95 <= P95_MAX_MS
        ok &= fast and bounded
        verdict = (f"×{SPEEDUP_MIN:g}: {'PASS' if fast else 'FAIL'}, "
                   f"p95 ≤ {P95_MAX_MS:g}: {'PASS' if bounded else 'FAIL'}")
        lines.append(f"| {r.page} | {r.bzrstore.p50:.1f} / {r.bzrstore.p95:.1f} | {lh} "
                     f"| ×{r.speedup:.1f} | {r.bytes_bzrstore:,} / {r.bytes_loggerhead:,} "
                     f"| {verdict} |")
    lines.append("")
    for name, (idle, peak, largest) in rss.items():
        lines.append(f"- {name}: RSS of the process tree {idle / MB:.0f} MiB idle, "
                     f"{peak / MB:.0f} MiB at its peak; its largest process "
                     f"{largest / MB:.0f} MiB at its peak")
    lines += ["", *(f"- {r.page}: {r.note}" for r in rows if r.note),
              f"- branch: {picked['tip_revno']} mainline revisions; run took {seconds:.0f} s"]
    return "\n".join(lines) + "\n", ok


def run(args: argparse.Namespace, workdir: Path, stack: ExitStack) -> tuple[str, bool, dict]:
    """Lay the branch down twice, start both servers, measure every page type."""
    repo = ensure_repo(args.tools, args.repo_dir)
    picked = pick_pages(repo / BRANCH)
    serve = ensure_loggerhead(args.loggerhead_venv)
    bz_server = start_bzrstore(workdir, repo, stack)
    lh_server = start_loggerhead(serve, workdir, repo, stack)
    samplers = {"bzrstore": TreeSampler(bz_server.proc.pid, interval=0.05),
                "loggerhead": TreeSampler(lh_server.proc.pid, interval=0.05)}
    idle = {name: sampler.peak_rss for name, sampler in samplers.items()}
    bz, lh = Client(bz_server.url), Client(lh_server.url)
    t0, rows = time.perf_counter(), []
    for page in page_types(picked):
        print(f"{page.name}: {args.warmup} warm-up, {args.requests} timed each",
              file=sys.stderr, flush=True)
        rows.append(measure(page, bz, lh, args.warmup, args.requests))
    rss = {}
    for name, sampler in samplers.items():
        sampler.stop()
        rss[name] = (idle[name], sampler.peak_rss, sampler.peak_process_rss)
    md, ok = markdown(rows, rss, picked, time.perf_counter() - t0)
    return md, ok, dict(rows=[asdict(r) for r in rows], rss=rss, picked=picked)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=30,
                   help="timed requests per page type and server (default %(default)s)")
    p.add_argument("--warmup", type=int, default=3,
                   help="untimed requests per page type and server first (default %(default)s)")
    p.add_argument("--repo-dir", type=Path, default=Path("/tmp/bench-repos/medium"),
                   help="gen_repo.py's medium preset (made there if missing; default %(default)s)")
    p.add_argument("--loggerhead-venv", type=Path, default=DEFAULT_LOGGERHEAD_VENV,
                   help=f"venv holding {LOGGERHEAD} (made if missing; default %(default)s)")
    p.add_argument("--tools", type=Path, default=DEFAULT_TOOLS,
                   help="the shared tools directory holding gen_repo.py (default %(default)s)")
    p.add_argument("--out", type=Path,
                   help="results basename, .json and .md are added "
                        "(default benchmarks/results/browse-<time>)")
    p.add_argument("--keep", action="store_true", help="keep the run directory under /tmp")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 1 when a target failed."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-browse-", dir="/tmp"))
    print(f"working in {workdir}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        with ExitStack() as stack:
            md, ok, data = run(args, workdir, stack)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(md)
    out = args.out or HERE / "results" / f"browse-{timestamp()}"
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.md").write_text(md)
    Path(f"{out}.json").write_text(json.dumps(data, indent=1, default=str))
    print(f"wrote {out}.json and {out}.md ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
