"""The real brz client against a real gunicorn serving bzrstore, on both registry backends."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from helpers import WORKER, post_status, run_cli
from servers import BIN, Brz, Gunicorn, tree_snapshot
from smartwire import request_v3


def test_worker_pushes_new_branch_and_anonymous_clone_matches(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=3)

    result = brz.run("push", "-d", work, store.writer_url("alpha/lintian-fixes/main"))
    assert "Created new branch" in result.stderr

    clone = tmp_path / "clone"
    brz.run("branch", store.reader_url("alpha/lintian-fixes/main"), clone)
    assert brz.revision_ids(clone) == revisions
    assert (clone / "dir" / "file.txt").read_text() == (work / "dir" / "file.txt").read_text()
    # The branch lives in the codebase's shared repository: no repository of its own.
    branch_dir = store.repos / "alpha" / "lintian-fixes" / "main"
    assert (branch_dir / ".bzr" / "branch").is_dir()
    assert not (branch_dir / ".bzr" / "repository").exists()
    assert (store.repos / "alpha" / ".bzr" / "repository").is_dir()


def test_incremental_push_then_anonymous_pull(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=2)
    brz.run("push", "-d", work, store.writer_url("alpha/incr/main"))
    copy = tmp_path / "copy"
    brz.run("branch", store.reader_url("alpha/incr/main"), copy)

    revisions = brz.make_branch(work, revisions=2, start=2)
    brz.run("push", "-d", work, store.writer_url("alpha/incr/main"))
    result = brz.run("pull", "-d", copy, store.reader_url("alpha/incr/main"))
    assert "Now on revision 4" in result.stdout
    assert brz.revision_ids(copy) == revisions


def test_push_to_cache_branch_debian_latest(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=1)
    brz.run("push", "-d", work, store.writer_url("alpha/debian/latest"))
    assert brz.revision_ids(store.reader_url("alpha/debian/latest")) == revisions


def test_janitor_internal_url_form_without_bzr_prefix(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=1)
    brz.run("push", "-d", work, store.writer_url("alpha/internal/main", prefix="/"))
    assert brz.revision_ids(store.reader_url("alpha/internal/main", prefix="/")) == revisions


def test_anonymous_push_is_refused_and_nothing_changes(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    brz.run("push", "-d", work, store.writer_url("alpha/anon/main"))
    brz.make_branch(work, revisions=1, start=1)
    before = tree_snapshot(store.repos)

    new_branch = brz.run("push", "-d", work, store.reader_url("alpha/anon/other"), check=False)
    existing = brz.run("push", "-d", work, store.reader_url("alpha/anon/main"), check=False)

    for result in (new_branch, existing):
        assert result.returncode != 0
        assert "401" in result.stderr or "authentication" in result.stderr.lower()
    assert tree_snapshot(store.repos) == before


def test_wrong_password_is_refused(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    before = tree_snapshot(store.repos)
    wrong = store.reader_url("alpha/wrong/main").replace("://", "://worker:not-the-password@")
    result = brz.run("push", "-d", work, wrong, check=False)
    assert result.returncode != 0
    assert "401" in result.stderr or "authentication" in result.stderr.lower()
    assert tree_snapshot(store.repos) == before


def test_unregistered_codebase_is_refused(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    result = brz.run("push", "-d", work, store.writer_url("nosuch/c/main"), check=False)
    # brz takes the 404 as "no smart server here", falls back to plain HTTP and fails.
    assert result.returncode != 0
    assert not (store.repos / "nosuch").exists()
    status = post_status(store.url + "/bzr/nosuch/c/main/.bzr/smart", request_v3(b"hello"))
    assert status == 404


def test_anonymous_probe_leaves_no_directories(store, brz: Brz, tmp_path: Path):
    before = tree_snapshot(store.repos)
    # brz info, log and branch of a branch that does not exist yet: all only read.
    brz.run("info", store.reader_url("alpha/probe/main"), check=False)
    assert brz.run("log", store.reader_url("alpha/probe/main"), check=False).returncode != 0
    assert brz.run("branch", store.reader_url("alpha/probe/main"), tmp_path / "b",
                   check=False).returncode != 0
    assert {k for k in tree_snapshot(store.repos) if "probe" in k} == set()
    assert {k: v for k, v in tree_snapshot(store.repos).items() if k in before} == before
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    brz.run("push", "-d", work, store.writer_url("alpha/probe/main"))


def test_cat_below_a_branch_and_checkout_commit(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=2)
    brz.run("push", "-d", work, store.writer_url("alpha/cat/main"))
    out = brz.run("cat", store.reader_url("alpha/cat/main") + "/dir/file.txt").stdout
    assert out == (work / "dir" / "file.txt").read_text()

    # A checkout stores its bound location without the password, so brz takes the
    # credentials from authentication.conf when the commit is challenged.
    brz.remember_credentials(store.url, *WORKER)
    checkout = tmp_path / "checkout"
    brz.run("checkout", store.reader_url("alpha/cat/main"), checkout)
    (checkout / "new.txt").write_text("from a checkout\n")
    brz.run("add", "-q", cwd=checkout)
    brz.run("commit", "-m", "bound commit", cwd=checkout)
    assert brz.revision_ids(store.reader_url("alpha/cat/main")) == brz.revision_ids(checkout)


def test_control_file_get_serves_branch_format(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    brz.run("push", "-d", work, store.writer_url("alpha/plain/main"))
    url = store.url + "/bzr/alpha/plain/main/.bzr/branch-format"
    with urllib.request.urlopen(url) as response:
        assert response.read() == (store.repos / "alpha/plain/main/.bzr/branch-format").read_bytes()


def test_stale_lock_is_broken_with_the_cli(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    brz.run("push", "-d", work, store.writer_url("alpha/locked/main"))
    # A client that takes the branch lock and dies without releasing it.
    subprocess.run(
        [sys.executable, "-c", "import sys, breezy.bzr, breezy.plugin\n"
         "from breezy.branch import Branch\n"
         "Branch.open(sys.argv[1]).lock_write()\nimport os; os._exit(0)",
         store.writer_url("alpha/locked/main")],
        check=True, timeout=60, env={**brz.env(), "PYTHONPATH": ""},
    )
    brz.make_branch(work, revisions=1, start=1)
    blocked = brz.run("push", "-d", work, store.writer_url("alpha/locked/main"), check=False)
    assert blocked.returncode != 0
    assert "lock" in blocked.stderr.lower()

    out = run_cli(store.env, "break-lock", "alpha/locked/main")
    assert "broke branch lock" in out
    brz.run("push", "-d", work, store.writer_url("alpha/locked/main"))
    assert brz.revision_ids(store.reader_url("alpha/locked/main")) == brz.revision_ids(work)
    assert "ok" in run_cli(store.env, "check", "alpha")


def test_bzrstore_serve_runs_gunicorn_with_the_packaged_config(store, tmp_path: Path):
    env = {**store.env, "GUNICORN_WORKERS": "1"}
    served = Gunicorn(env, tmp_path / "serve.log",
                      command=[str(BIN / "bzrstore"), "serve", "--bind", "127.0.0.1:0"])
    served.start()
    try:
        assert post_status(served.url + "/bzr/alpha/.bzr/smart", request_v3(b"hello")) == 200
        log = (tmp_path / "serve.log").read_text()
        assert "Using worker: bzrstore.node.workers.IdleLimitedThreads" in log
    finally:
        served.stop()
    # Stopping reaps the workers through child_exit (metrics clean-up) without an error.
    log = (tmp_path / "serve.log").read_text()
    assert "Shutting down: Master" in log
    assert "Traceback" not in log


def test_metrics_add_up_over_gunicorn_workers(store, brz: Brz, tmp_path: Path):
    for _ in range(6):  # sync workers: the requests spread over both
        assert post_status(store.url + "/bzr/alpha/.bzr/smart", request_v3(b"hello")) == 200
    with urllib.request.urlopen(store.url + "/metrics") as response:
        text = response.read().decode()
    assert response.headers["Content-Type"].startswith("text/plain")
    hellos = re.search(
        r'^bzrstore_smart_requests_total\{verb="hello",writable="false"\} (\S+)$', text, re.M)
    assert hellos and float(hellos.group(1)) >= 6
    assert re.search(r'^bzrstore_http_requests_total\{method="POST",route="smart",'
                     r'status="200"\} ', text, re.M)
    assert re.search(r'^bzrstore_smart_bytes_out_total \d', text, re.M)
    work = tmp_path / "work"
    brz.make_branch(work, revisions=1)
    brz.run("push", "-d", work, store.writer_url("alpha/metrics/main"))
    with urllib.request.urlopen(store.url + "/metrics") as response:
        assert re.search(r"^bzrstore_pushes_total [1-9]", response.read().decode(), re.M)
