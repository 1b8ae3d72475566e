"""Janitor's worker pushing its result: roles, tags and the ``debian/latest`` cache branch.

Janitor's runner gives the worker ``<vcs-location>/<codebase>`` with no credentials (its
URL join drops ``/bzr``, so it is the internal form ``/<cb>/…``) and the worker writes
over ``bzr+http://``. On bzrstore that works on the internal listener; the public one
needs the worker's credentials, as before.
"""

from __future__ import annotations

import pytest
from breezy.errors import PermissionDenied, SmartProtocolError, UnexpectedHttpStatus

from helpers import as_worker

LOG_ID = "run-1"


def check_result(janitor_store, worker, run) -> None:
    """Every role, its tags and the cache branch read back anonymously from the public port."""
    base = f"{janitor_store.url}/bzr/foo"
    tip, tags = worker["tip_and_tags"](f"{base}/campaign/main")
    assert tip == run.revids[-1]
    assert tags[LOG_ID] == run.revids[-1]
    assert tags[f"{LOG_ID}/upstream/1.0"] == run.revids[0]
    assert tags["upstream/1.0"] == run.revids[0]
    tip, tags = worker["tip_and_tags"](f"{base}/campaign/upstream")
    assert tip == run.revids[0]
    assert tags[LOG_ID] == run.revids[0]
    assert tags[f"{LOG_ID}/upstream/1.0"] == run.revids[0]
    # Only tags on the role's own history get the run's prefix (is_ancestor in vcs.rs).
    assert f"{LOG_ID}/debian/1.2-1" not in tags
    tip, tags = worker["tip_and_tags"](f"{base}/debian/latest")
    assert tip == run.revids[-1]
    # The worker's tag selector: its vendor's tags and upstream's, nothing else.
    assert set(tags) == {"upstream/1.0", "debian/1.2-1"}


def push_sequence(worker, run, repo_url: str) -> None:
    """What one Janitor run writes: the result roles, then the cache branch."""
    roles = {"main": run.revids[-1], "upstream": run.revids[0]}
    worker["push_result"](repo_url, run, roles, LOG_ID)
    worker["push_cache"](repo_url, run)


def test_push_sequence_internal_without_credentials(janitor_store, internal, worker,
                                                    worker_run):
    push_sequence(worker, worker_run, f"bzr+{internal}/foo")
    check_result(janitor_store, worker, worker_run)


def test_push_sequence_public_with_credentials(janitor_store, worker, worker_run):
    push_sequence(worker, worker_run, "bzr+" + as_worker(f"{janitor_store.url}/bzr/foo"))
    check_result(janitor_store, worker, worker_run)


def test_second_run_overwrites_internal(janitor_store, internal, worker, tmp_path):
    """A later run of the same campaign replaces main (``overwrite``), diverged or not."""
    first = worker["make_run"](tmp_path / "first", revisions=2)
    second = worker["make_run"](tmp_path / "second", revisions=4)
    repo_url = f"bzr+{internal}/foo"
    for run in (first, second):
        worker["push_result"](repo_url, run, {"main": run.revids[-1]}, f"log-{len(run.revids)}")
    tip, tags = worker["tip_and_tags"](f"{janitor_store.url}/bzr/foo/campaign/main")
    assert tip == second.revids[-1]
    assert {"log-2", "log-4"} <= set(tags)


def test_public_push_without_credentials_refused(janitor_store, worker, worker_run):
    """The public listener keeps asking for credentials: internal trust is the socket's."""
    url = f"bzr+{janitor_store.url}/foo/campaign/nocreds"
    with pytest.raises((PermissionDenied, SmartProtocolError, UnexpectedHttpStatus),
                       match="401|[Pp]ermission"):
        worker["push_branch"](worker_run.branch, url, worker_run.revids[-1])
    assert not (janitor_store.data / "repos" / "foo" / "campaign" / "nocreds").exists()
