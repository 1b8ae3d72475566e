"""Failed logins per address and per user name: 429 before any hashing, shared by file."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_auth import ROUNDS, FakeRegistry
from webtest import TestApp

from bzrstore import create_app
from bzrstore.auth import Authenticator, hash_password
from bzrstore.config import load_settings
from bzrstore.login_limits import LoginLimited, LoginLimits
from helpers import WallClock, basic
from smartwire import request_v3

MAX_FAILURES = 3
WINDOW_SECONDS = 60.0


@pytest.fixture
def limits(tmp_path: Path, clock: WallClock) -> LoginLimits:
    return LoginLimits(tmp_path / "run", MAX_FAILURES, WINDOW_SECONDS, clock)


def make_authenticator(limits: LoginLimits) -> Authenticator:
    registry = FakeRegistry(alice=hash_password("secret", ROUNDS),
                            bob=hash_password("secret", ROUNDS))
    return Authenticator(registry, 60, limits=limits, reference_rounds=ROUNDS)


def test_too_many_failures_from_one_address_are_429_before_hashing(limits, clock, checkpw_calls):
    authenticator = make_authenticator(limits)
    for user in ("alice", "bob", "mallory"):
        assert not authenticator.authenticate(user, "wrong", "198.51.100.7")
    checked = len(checkpw_calls)
    clock.now += 10
    with pytest.raises(LoginLimited) as refused:
        authenticator.authenticate("alice", "secret", "198.51.100.7")
    assert len(checkpw_calls) == checked  # no bcrypt for a refused attempt
    response = refused.value.get_response()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(int(WINDOW_SECONDS - 10))
    assert authenticator.authenticate("alice", "secret", "198.51.100.8")  # another address


def test_too_many_failures_for_one_user_are_429_from_any_address(limits):
    authenticator = make_authenticator(limits)
    for peer in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert not authenticator.authenticate("alice", "wrong", peer)
    with pytest.raises(LoginLimited):
        authenticator.authenticate("alice", "secret", "192.0.2.4")
    assert authenticator.authenticate("bob", "secret", "192.0.2.4")


def test_the_window_passes(limits, clock):
    authenticator = make_authenticator(limits)
    for _ in range(MAX_FAILURES):
        authenticator.authenticate("alice", "wrong", "192.0.2.1")
    clock.now += WINDOW_SECONDS - 1
    with pytest.raises(LoginLimited) as refused:
        authenticator.authenticate("alice", "secret", "192.0.2.1")
    assert refused.value.retry_after == 1
    clock.now += 1.5
    assert authenticator.authenticate("alice", "secret", "192.0.2.1")


def test_a_cached_login_is_not_locked_out(limits):
    # The worker logged in a moment ago; an attacker then burns its user name's budget.
    authenticator = make_authenticator(limits)
    assert authenticator.authenticate("alice", "secret", "10.0.0.5")
    for peer in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        authenticator.authenticate("alice", "wrong", peer)
    assert authenticator.authenticate("alice", "secret", "10.0.0.5")
    with pytest.raises(LoginLimited):  # a process without the cached login must verify
        make_authenticator(limits).authenticate("alice", "secret", "10.0.0.5")


def test_counts_are_shared_through_the_file(tmp_path: Path, clock):
    # Two workers: two LoginLimits objects on one runtime directory.
    first = make_authenticator(LoginLimits(tmp_path, MAX_FAILURES, WINDOW_SECONDS, clock))
    second = make_authenticator(LoginLimits(tmp_path, MAX_FAILURES, WINDOW_SECONDS, clock))
    for authenticator in (first, second, first):
        authenticator.authenticate("alice", "wrong", "192.0.2.1")
    with pytest.raises(LoginLimited):
        second.authenticate("alice", "secret", "192.0.2.1")


def test_old_failures_are_forgotten(limits, clock):
    for _ in range(5):
        limits.record_failure("192.0.2.1", "alice")
    clock.now += WINDOW_SECONDS + 1
    limits.record_failure("192.0.2.2", "bob")
    rows = limits.counts._connection().execute("SELECT COUNT(*) FROM event").fetchone()[0]
    assert rows == 2


def test_an_unusable_runtime_dir_does_not_lock_everyone_out(tmp_path: Path, clock):
    (tmp_path / "run").write_text("a file where the directory should be")
    limits = LoginLimits(tmp_path / "run", 1, WINDOW_SECONDS, clock)
    authenticator = make_authenticator(limits)
    for _ in range(3):
        assert not authenticator.authenticate("alice", "wrong", "192.0.2.1")
    assert authenticator.authenticate("alice", "secret", "192.0.2.1")


def test_smart_and_web_routes_share_the_limit(tmp_path: Path):


    app = create_app(load_settings(environ={}, data=tmp_path / "data", auth_max_failures=2))
    app.extensions["bzrstore"].registry.add_codebase("alpha")
    app.extensions["bzrstore"].registry.add_worker("w", hash_password("pw", ROUNDS))
    web = TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.9"})
    body = request_v3(b"mkdir", b"x", b"")
    smart = {**basic("w", "wrong"), "Content-Type": "application/octet-stream"}
    for _ in range(2):
        web.post("/alpha/.bzr/smart", body, headers=smart, status=401)
    refused = web.post("/alpha/.bzr/smart", body, headers=smart, status=429)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    web.get("/admin/", headers=basic("w", "pw"), status=429)
    assert not (app.extensions["bzrstore"].settings.repos_dir / "alpha" / "x").exists()
