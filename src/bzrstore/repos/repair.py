"""Leftovers of interrupted writes: which files are stale, and removing them safely.

A push writes its pack into the repository's ``upload/`` and renames it into
``packs/`` when it commits; Breezy's abort removes it, but a worker killed mid-push
leaves it there for good. 2a repositories let several pushes write at once (the
repository lock is only held while ``pack-names`` is rewritten), so another push's
live pack may sit beside a dead one. The rule: a file in ``upload/`` is stale when
nothing has written it for UPLOAD_GRACE_SECONDS and no process on this host has it
open; a suspended write group (a pack with its indices beside it, resumed by the
same push) is stale after SUSPENDED_UPLOAD_SECONDS.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from breezy import errors
from breezy.config import GlobalStack
from breezy.lock import Lock
from breezy.lockdir import LockDir
from breezy.transport import NoSuchFile, get_transport_from_url

log = logging.getLogger(__name__)

UPLOAD_DIR = "upload"
# Longer than any pause of a live writer: gunicorn kills a worker that moves no byte for
# 300 s, and writing a finished pack's indices before its rename takes seconds.
UPLOAD_GRACE_SECONDS = 600
# Breezy writes a suspended write group's revision index (and the others) beside its pack.
SUSPENDED_MARKER_SUFFIX = ".rix"
# A suspended write group is resumed by the next request of the same push; one this old
# belongs to a client that went away. Also the rule where open files cannot be listed.
SUSPENDED_UPLOAD_SECONDS = 24 * 3600
# Creating a repository takes milliseconds: a staging directory this old lost its worker.
STAGING_STALE_SECONDS = 3600
# Staging directories of ours under repos/: repository creation (storage.py).
STAGING_PREFIXES = (".new-",)
PROC = Path("/proc")
HOOK_NAME = "bzrstore stale uploads"
REPOSITORY_LOCK_SUFFIX = "/.bzr/repository/lock"


def open_files() -> set[tuple[int, int]] | None:
    """(device, inode) of every file a process on this host has open; None if unknowable."""
    try:
        pids = [entry for entry in os.listdir(PROC) if entry.isdigit()]
    except OSError:
        return None
    found = set()
    for pid in pids:
        try:
            fds = os.listdir(PROC / pid / "fd")
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:
                stat = os.stat(PROC / pid / "fd" / fd)
            except OSError:
                continue
            found.add((stat.st_dev, stat.st_ino))
    return found


def stale_uploads(repository_transport: Any, now: float) -> list[str]:
    """Names under the repository's ``upload/`` that no live writer can own (see above)."""
    try:
        names = set(repository_transport.list_dir(UPLOAD_DIR))
    except NoSuchFile:
        return []
    stats = {name: repository_transport.stat(f"{UPLOAD_DIR}/{name}") for name in names}
    candidates = []
    for name in sorted(names):
        stem = name.rpartition(".")[0]
        suspended = stem + SUSPENDED_MARKER_SUFFIX in names and stem + ".pack" in names
        limit = SUSPENDED_UPLOAD_SECONDS if suspended else UPLOAD_GRACE_SECONDS
        if now - stats[name].st_mtime > limit:
            candidates.append(name)
    if not candidates:
        return []
    in_use = open_files()
    if in_use is None:
        return [n for n in candidates if now - stats[n].st_mtime > SUSPENDED_UPLOAD_SECONDS]
    return [n for n in candidates if (stats[n].st_dev, stats[n].st_ino) not in in_use]


def remove_stale_uploads(repository_transport: Any) -> list[str]:
    """Delete the stale uploads; return their names."""
    removed = stale_uploads(repository_transport, time.time())
    for name in removed:
        try:
            repository_transport.delete(f"{UPLOAD_DIR}/{name}")
        except NoSuchFile:
            pass
    return removed


def clean_uploads_on_lock(result: Any) -> None:
    """Breezy hook: when a push commits (it takes the repository lock), clear leftovers."""
    url = result.lock_url.rstrip("/")
    if not url.endswith(REPOSITORY_LOCK_SUFFIX):
        return
    try:
        transport = get_transport_from_url(url[: -len("/lock")])
        removed = remove_stale_uploads(transport)
    except (errors.BzrError, OSError) as exc:  # cleaning must never fail the push itself
        log.warning("could not clear stale uploads: %s", exc)
        return
    if removed:
        log.warning("removed %d upload(s) left by an interrupted push: %s",
                    len(removed), " ".join(removed))


def heal_on_start(repos_dir: Path) -> None:
    """In a serving process: clear stale uploads at each push, and stale staging now."""
    if clean_uploads_on_lock not in Lock.hooks["lock_acquired"]:
        Lock.hooks.install_named_hook("lock_acquired", clean_uploads_on_lock, HOOK_NAME)
    removed = remove_stale_staging(repos_dir)
    if removed:
        log.warning("removed stale staging directories: %s", " ".join(removed))
    # Breezy's default is True; only the service user's breezy.conf can turn it off.
    if not GlobalStack().get("locks.steal_dead"):
        log.warning("locks.steal_dead is off in breezy.conf: a lock left by a killed worker "
                    "stays until 'bzrstore break-lock' or 'bzrstore check --repair'")


def stale_staging(repos_dir: Path, now: float) -> list[Path]:
    """Our staging directories under ``repos/`` older than STAGING_STALE_SECONDS."""
    if not repos_dir.is_dir():
        return []
    return sorted(
        path for path in repos_dir.iterdir()
        if path.name.startswith(STAGING_PREFIXES) and path.is_dir() and not path.is_symlink()
        and now - path.lstat().st_mtime > STAGING_STALE_SECONDS
    )


def remove_stale_staging(repos_dir: Path) -> list[str]:
    """Delete stale staging directories; return their names."""
    removed = stale_staging(repos_dir, time.time())
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return [path.name for path in removed]


def held_locks(codebase_dir: Path) -> list[str]:
    """Relative paths of the held repository and branch locks in a codebase."""
    found = []
    for top, dirs, _ in os.walk(codebase_dir):  # never follows symlinks
        if ".bzr" in dirs:
            dirs.remove(".bzr")  # only its two lock directories matter here
            for kind in ("repository", "branch"):
                lock = Path(top, ".bzr", kind, "lock")
                if (lock / "held").is_dir() and not lock.is_symlink():
                    found.append(str(lock.relative_to(codebase_dir)))
    return sorted(found)


def repair_codebase(codebase_dir: Path, root_transport: Any) -> list[str]:
    """Break locks whose holder died on this host and remove stale uploads; say what."""
    done = []
    for path in held_locks(codebase_dir):
        lock = LockDir(root_transport, path)
        holder = lock.peek()
        if holder is not None and holder.is_lock_holder_known_dead():
            lock.force_break(holder)
            done.append(f"broke {path}: its holder, pid {holder.get('pid')}, is dead")
        else:
            done.append(f"left {path}: held by a live process, or one on another host")
    removed = remove_stale_uploads(root_transport.clone(".bzr/repository"))
    done.extend(f"removed .bzr/repository/{UPLOAD_DIR}/{name}" for name in removed)
    return done
