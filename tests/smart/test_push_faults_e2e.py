"""A push meets a full disk, a killed worker or a reload: the store stays sound and heals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bzrstore.repos.repair import UPLOAD_GRACE_SECONDS
from helpers import WORKER, as_worker, run_cli
from servers import Brz, Gunicorn, start_brz

# The repositories' disk in the disk-full test: room for a small branch, not for the big one.
SMALL_DISK = "6m"
ROOMY_DISK = "96m"
# Incompressible bytes committed for the push that must not fit (and to make pushes
# last long enough to interrupt): larger than SMALL_DISK.
BIG_FILE_BYTES = 24 * 1024 * 1024
# Bounded polls: how long to wait for a push to start writing, or a worker to come back.
WAIT_SECONDS = 60


@dataclass
class PushStore:
    """One gunicorn worker (so the test knows whom to kill) over SQLite."""

    server: Gunicorn
    data: Path
    env: dict[str, str]

    @property
    def repository(self) -> Path:
        return self.data / "repos" / "alpha" / ".bzr" / "repository"

    def url(self, path: str) -> str:
        return f"{self.server.url}/bzr/alpha/{path}"


def _start_store(tmp_path: Path) -> PushStore:
    data = tmp_path / "data"
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": "",
           "GUNICORN_ACCESSLOG": str(tmp_path / "access.log")}
    run_cli(env, "codebase", "add", "alpha")
    run_cli(env, "worker", "add", WORKER[0], stdin=WORKER[1] + "\n")
    return PushStore(Gunicorn(env, tmp_path / "gunicorn.log", workers=1).start(), data, env)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``data/repos`` on a tmpfs of SMALL_DISK; unmounted afterwards."""
    repos = tmp_path / "data" / "repos"
    repos.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}",
                              "bzrstore-test", str(repos)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield repos
    finally:
        subprocess.run(["umount", "--lazy", str(repos)], check=True)


@pytest.fixture
def push_store(tmp_path: Path) -> Iterator[PushStore]:
    store = _start_store(tmp_path)
    try:
        yield store
    finally:
        store.server.stop()


@pytest.fixture
def full_store(small_disk: Path, tmp_path: Path) -> Iterator[PushStore]:
    store = _start_store(tmp_path)
    try:
        yield store
    finally:
        store.server.stop()


def _commit_big_file(brz: Brz, tree: Path) -> None:
    (tree / "big.bin").write_bytes(os.urandom(BIG_FILE_BYTES))
    # Named: brz add skips files over add.maximum_file_size (20 MB) unless named.
    brz.run("add", "-q", "big.bin", cwd=tree)
    brz.run("commit", "-q", "-m", "big", cwd=tree)


def _fill(path: Path) -> None:
    """Write ``path`` until the disk has no room left."""
    with path.open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 20))
                filler.flush()
        except OSError:
            pass
    # A last small write may still fit a partial block: fill that too.
    with path.open("ab", buffering=0) as filler:
        try:
            while filler.write(b"\0" * 512):
                pass
        except OSError:
            pass


def _assert_sound(brz: Brz, store: PushStore) -> None:
    """``brz check`` is clean, no lock is held and no upload is left behind."""
    result = brz.run("check", store.repository.parent.parent)
    assert "inconsistent" not in result.stdout + result.stderr
    assert not (store.repository / "lock" / "held").exists()
    assert not _branch_lock(store).exists()
    assert list((store.repository / "upload").iterdir()) == []


def _branch_lock(store: PushStore) -> Path:
    return store.repository.parent.parent / "c" / "main" / ".bzr" / "branch" / "lock" / "held"


def _age_uploads(store: PushStore) -> None:
    """Make the leftovers in upload/ look as old as the cleanup rule wants (time passing)."""
    leftovers = list((store.repository / "upload").iterdir())
    assert leftovers
    old = time.time() - 2 * UPLOAD_GRACE_SECONDS
    for path in leftovers:
        os.utime(path, (old, old))


def _wait_for_upload(store: PushStore, push: subprocess.Popen) -> None:
    """Wait until the push is writing its pack into the repository's upload/."""
    deadline = time.monotonic() + WAIT_SECONDS
    upload = store.repository / "upload"
    while not (upload.is_dir() and any(p.stat().st_size > 1 << 20 for p in upload.iterdir())):
        assert push.poll() is None, push.communicate()
        assert time.monotonic() < deadline, "the push never started writing"
        time.sleep(0.01)


def test_disk_full_push_fails_cleanly_and_the_next_one_lands(full_store, brz: Brz,
                                                             tmp_path: Path, small_disk: Path):
    source = tmp_path / "src"
    brz.make_branch(source, revisions=2)
    url = as_worker(full_store.url("c/main"))
    brz.run("push", url, cwd=source)
    before = brz.revision_ids(full_store.url("c/main"))
    packs = sorted(os.listdir(full_store.repository / "packs"))

    _commit_big_file(brz, source)
    failed = brz.run("push", url, cwd=source, check=False)
    assert failed.returncode != 0
    assert "the server's disk is full; nothing was changed" in failed.stderr, failed.stderr
    # brz reports any error of its insert_stream call as an internal error (with a
    # traceback) whatever the server sends; the first line still says what happened.
    first_line = failed.stderr.splitlines()[0]
    assert first_line.startswith("brz: ERROR: ") and "disk is full" in first_line
    assert brz.revision_ids(full_store.url("c/main")) == before
    assert sorted(os.listdir(full_store.repository / "packs")) == packs
    _assert_sound(brz, full_store)

    # With no byte left at all, even a new branch fails at its first write, cleanly.
    _fill(small_disk / "filler")
    failed = brz.run("push", as_worker(full_store.url("c/new")), cwd=source, check=False)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr, failed.stderr
    assert "the server's disk is full; nothing was changed" in failed.stderr, failed.stderr
    (small_disk / "filler").unlink()

    subprocess.run(["mount", "-o", f"remount,size={ROOMY_DISK}", str(small_disk)], check=True)
    brz.run("push", url, cwd=source)
    assert brz.revision_ids(full_store.url("c/main")) == brz.revision_ids(source)
    brz.run("push", as_worker(full_store.url("c/new")), cwd=source)
    assert brz.revision_ids(full_store.url("c/new")) == brz.revision_ids(source)
    _assert_sound(brz, full_store)


def _replaced(store: PushStore, victim: int) -> None:
    """Wait until ``victim`` is gone and gunicorn has started a worker in its place."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (pids := store.server.worker_pids()) == [] or victim in pids:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.05)


def _push_under_way(store: PushStore, brz: Brz, tmp_path: Path
                    ) -> tuple[Path, str, subprocess.Popen[str], int]:
    """A branch pushed once, then a big push uploading: (source, URL, push, its worker)."""
    source = tmp_path / "src"
    brz.make_branch(source, revisions=1)
    url = as_worker(store.url("c/main"))
    brz.run("push", url, cwd=source)
    _commit_big_file(brz, source)
    push = start_brz(brz, "push", url, cwd=source)
    _wait_for_upload(store, push)
    (worker,) = store.server.worker_pids()
    return source, url, push, worker


def test_worker_killed_mid_push_heals_on_the_retry(push_store, brz: Brz, tmp_path: Path):
    source, url, push, victim = _push_under_way(push_store, brz, tmp_path)
    os.kill(victim, signal.SIGKILL)
    assert push.wait(timeout=WAIT_SECONDS) != 0
    _replaced(push_store, victim)
    # The client released its locks through another worker; the partial pack stays...
    assert not _branch_lock(push_store).exists()
    _age_uploads(push_store)
    # ...until the next push commits and removes it (old enough, open in no process).
    brz.run("push", url, cwd=source)
    assert brz.revision_ids(push_store.url("c/main")) == brz.revision_ids(source)
    _assert_sound(brz, push_store)


def test_dead_worker_and_client_locks_are_stolen_by_the_next_push(push_store, brz: Brz,
                                                                  tmp_path: Path):
    source, url, push, victim = _push_under_way(push_store, brz, tmp_path)
    os.kill(victim, signal.SIGSTOP)  # so it cannot tidy up when the client goes
    push.kill()
    push.wait(timeout=WAIT_SECONDS)
    os.kill(victim, signal.SIGKILL)
    _replaced(push_store, victim)
    # Nobody is left to unlock: the dead worker's branch lock and partial pack remain...
    assert _branch_lock(push_store).exists()
    _age_uploads(push_store)
    # ...and the next push steals them (same host, holder pid dead): no break-lock by hand.
    brz.run("push", url, cwd=source)
    assert brz.revision_ids(push_store.url("c/main")) == brz.revision_ids(source)
    _assert_sound(brz, push_store)


def test_reload_lets_a_running_push_finish(push_store, brz: Brz, tmp_path: Path):
    source = tmp_path / "src"
    brz.make_branch(source, revisions=1)
    url = as_worker(push_store.url("c/main"))
    _commit_big_file(brz, source)

    push = start_brz(brz, "push", url, cwd=source)
    _wait_for_upload(push_store, push)
    (old_worker,) = push_store.server.worker_pids()
    os.kill(push_store.server.proc.pid, signal.SIGHUP)
    out, err = push.communicate(timeout=WAIT_SECONDS)
    assert push.returncode == 0, err
    assert brz.revision_ids(push_store.url("c/main")) == brz.revision_ids(source)
    _replaced(push_store, old_worker)  # the reload did happen, after the push
    _assert_sound(brz, push_store)
