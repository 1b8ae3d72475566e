"""Password verification, its cache, and Basic header parsing."""

from __future__ import annotations

import base64
import statistics
import time

import bcrypt
import pytest

from bzrstore import auth, create_app
from bzrstore.auth import Authenticator, hash_password, parse_basic_auth
from bzrstore.config import DEFAULT_BCRYPT_COST, ConfigError, load_settings
from bzrstore.errors import CHALLENGE, BasicChallenge

ROUNDS = 4  # the cheapest cost bcrypt allows: these tests count calls, not time


def fast_authenticator(registry: FakeRegistry, ttl: float, **kwargs) -> Authenticator:
    """An authenticator whose reference (dummy) cost is the cheapest, so failures are quick."""
    return Authenticator(registry, ttl, reference_rounds=ROUNDS, **kwargs)


class FakeRegistry:
    """Password hashes in a dict, counting look-ups."""

    def __init__(self, **hashes: str) -> None:
        self.hashes = hashes
        self.lookups = 0

    def worker_password_hash(self, name: str) -> str | None:
        self.lookups += 1
        return self.hashes.get(name)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hash_password_writes_2a_with_default_cost():
    # $2a$: pgcrypto's crypt() takes any other prefix for a DES salt (Janitor's check fails).
    hashed = hash_password("secret")
    assert hashed.startswith(f"$2a${auth.BCRYPT_ROUNDS:02d}$")
    assert auth.BCRYPT_ROUNDS == DEFAULT_BCRYPT_COST == 10
    assert bcrypt.checkpw(b"secret", hashed.encode())
    assert hash_password("secret", 5).startswith("$2a$05$")


@pytest.mark.parametrize("password", ["secret", "pässwörd ☃", "x" * 72, "é" * 36])
def test_2a_and_2b_compute_the_same_for_every_password_we_accept(password: str):
    # They differ only for passwords of 256 bytes and more (OpenBSD's length counter).
    hashed = hash_password(password, ROUNDS)
    as_2b = bcrypt.hashpw(password.encode(), ("$2b$" + hashed[4:29]).encode()).decode()
    assert as_2b[4:] == hashed[4:]


def test_the_cost_is_a_setting_within_pgcrypto_range():
    assert load_settings(environ={}).bcrypt_cost == DEFAULT_BCRYPT_COST
    assert load_settings(environ={"BZRSTORE_BCRYPT_COST": "31"}).bcrypt_cost == 31
    for bad in ("3", "32"):
        with pytest.raises(ConfigError, match="BZRSTORE_BCRYPT_COST"):
            load_settings(environ={"BZRSTORE_BCRYPT_COST": bad})


def test_the_store_pads_failures_to_the_configured_cost(tmp_path):
    # A failure must last as long as a check of the hashes we write, whatever their cost.
    app = create_app(load_settings(environ={}, data=tmp_path / "data", bcrypt_cost=5))
    try:
        assert app.extensions["bzrstore"].authenticator.reference_rounds == 5
    finally:
        app.extensions["bzrstore"].registry.close()


def test_hash_password_refuses_what_bcrypt_would_ignore():
    with pytest.raises(ValueError, match="72"):
        hash_password("x" * 73)


def test_right_and_wrong_password():
    authenticator = fast_authenticator(FakeRegistry(alice=hash_password("secret", ROUNDS)), 60)
    assert authenticator.authenticate("alice", "secret")
    assert not authenticator.authenticate("alice", "Secret")
    assert not authenticator.authenticate("alice", "")


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_variants_verify(prefix: str):
    stored = prefix + hash_password("secret", ROUNDS)[4:]
    authenticator = fast_authenticator(FakeRegistry(alice=stored), 60)
    assert authenticator.authenticate("alice", "secret")
    assert not authenticator.authenticate("alice", "wrong")


def test_unknown_user_costs_one_bcrypt_like_a_wrong_password(checkpw_calls: list[bytes]):
    stored = hash_password("secret", ROUNDS)
    authenticator = fast_authenticator(FakeRegistry(alice=stored), 60)
    assert authenticator.authenticate("alice", "wrong") is False
    assert authenticator.authenticate("mallory", "wrong") is False
    assert len(checkpw_calls) == 2
    assert checkpw_calls[1].startswith(f"$2b${ROUNDS:02d}$".encode())


def test_dummy_cost_is_the_reference_whatever_was_seen_before(checkpw_calls: list[bytes]):
    # Old code: the dummy took the cost of the last real hash seen (here 5, then 4).
    registry = FakeRegistry(cheap=hash_password("x", 4), dearer=hash_password("x", 5))
    authenticator = Authenticator(registry, 60, reference_rounds=6, sleep=lambda _: None)
    for user in ("dearer", "mallory", "cheap", "mallory"):
        assert not authenticator.authenticate(user, "wrong")
    dummies = [hashed[:7] for hashed in checkpw_calls if b"abcdefghijklmnopqrstuu" in hashed]
    assert dummies and set(dummies) == {b"$2b$06$"}


def test_unknown_user_before_any_known_one_uses_default_cost(checkpw_calls: list[bytes]):
    assert not Authenticator(FakeRegistry(), 60).authenticate("mallory", "pw")
    assert checkpw_calls == [f"$2b${auth.BCRYPT_ROUNDS:02d}$".encode() + checkpw_calls[0][7:]]


def test_cache_hit_avoids_bcrypt(checkpw_calls: list[bytes]):
    registry = FakeRegistry(alice=hash_password("secret", ROUNDS))
    authenticator = fast_authenticator(registry, 60)
    assert authenticator.authenticate("alice", "secret")
    assert authenticator.authenticate("alice", "secret")
    assert authenticator.authenticate("alice", "secret")
    assert len(checkpw_calls) == 1
    # The stored hash is still read every time, so changes take effect at once.
    assert registry.lookups == 3


def test_failures_are_not_cached(checkpw_calls: list[bytes]):
    authenticator = fast_authenticator(FakeRegistry(alice=hash_password("secret", ROUNDS)), 60)
    assert not authenticator.authenticate("alice", "wrong")
    assert not authenticator.authenticate("alice", "wrong")
    assert len(checkpw_calls) == 2


def test_password_change_and_removal_invalidate_the_cache():
    registry = FakeRegistry(alice=hash_password("old", ROUNDS))
    authenticator = fast_authenticator(registry, 60)
    assert authenticator.authenticate("alice", "old")
    registry.hashes["alice"] = hash_password("new", ROUNDS)
    assert not authenticator.authenticate("alice", "old")
    assert authenticator.authenticate("alice", "new")
    del registry.hashes["alice"]
    assert not authenticator.authenticate("alice", "new")


def test_cache_expires_after_ttl(checkpw_calls: list[bytes]):
    clock = FakeClock()
    authenticator = fast_authenticator(
        FakeRegistry(alice=hash_password("secret", ROUNDS)), 30, clock=clock)
    assert authenticator.authenticate("alice", "secret")
    clock.now += 29.9
    assert authenticator.authenticate("alice", "secret")
    assert len(checkpw_calls) == 1
    clock.now += 0.2
    assert authenticator.authenticate("alice", "secret")
    assert len(checkpw_calls) == 2


def test_zero_ttl_disables_the_cache(checkpw_calls: list[bytes]):
    authenticator = fast_authenticator(FakeRegistry(alice=hash_password("secret", ROUNDS)), 0)
    assert authenticator.authenticate("alice", "secret")
    assert authenticator.authenticate("alice", "secret")
    assert len(checkpw_calls) == 2


def test_cache_is_bounded(checkpw_calls: list[bytes]):
    stored = hash_password("secret", ROUNDS)
    registry = FakeRegistry(**{f"w{i}": stored for i in range(3)})
    authenticator = fast_authenticator(registry, 60, max_entries=2)
    for name in ("w0", "w1", "w2"):
        assert authenticator.authenticate(name, "secret")
    assert len(authenticator._cache) == 2
    assert authenticator.authenticate("w0", "secret")  # evicted: verified again
    assert len(checkpw_calls) == 4


@pytest.mark.parametrize("stored", [
    "", "plain-text", "$1$md5$hash", "$2b$04$short",
    "$2b$04$abcdefghijklmnopqrstuu" + "." * 30,  # one character short
    "$2b$99$abcdefghijklmnopqrstuu" + "." * 31,  # impossible cost
    "$2x$04$abcdefghijklmnopqrstuu" + "." * 31,  # the broken old variant
])
def test_malformed_stored_hash_is_false_not_an_error(stored: str, checkpw_calls: list[bytes]):
    authenticator = fast_authenticator(FakeRegistry(alice=stored), 60)
    assert not authenticator.authenticate("alice", "")
    assert not authenticator.authenticate("alice", "x")
    # Still one (dummy) verification each, like a wrong password.
    assert len(checkpw_calls) == 2


def test_odd_passwords_do_not_raise():
    authenticator = fast_authenticator(FakeRegistry(alice=hash_password("secret", ROUNDS)), 60)
    assert not authenticator.authenticate("alice", "x" * 500)
    assert not authenticator.authenticate("alice", "a\0b")
    assert not authenticator.authenticate("alice", "\udcff")
    assert not authenticator.authenticate("\udcff", "secret")


def _basic(value: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(value.encode()).decode()}


def test_parse_basic_auth():
    assert parse_basic_auth(_basic("worker:s3:cret")) == ("worker", "s3:cret")
    assert parse_basic_auth(_basic("wörker:pässword")) == ("wörker", "pässword")
    assert parse_basic_auth(_basic("worker:")) == ("worker", "")


@pytest.mark.parametrize("header", [None, "", "   "])
def test_parse_basic_auth_without_credentials_is_none(header: str | None):
    environ = {} if header is None else {"HTTP_AUTHORIZATION": header}
    assert parse_basic_auth(environ) is None


MALFORMED_AUTHORIZATION = [
    "Basic", "Basic ", "Basic Og==", "Basic !!!notbase64", "Basic d29ya2Vy",  # "worker", no colon
    "Bearer abc", 'Digest username="x"', "Negotiate",
    "Basic " + base64.b64encode(b"\xff\xfe:pw").decode(),  # not UTF-8
    "Basic " + base64.b64encode(b":pw").decode(),  # empty user
]


@pytest.mark.parametrize("header", MALFORMED_AUTHORIZATION)
def test_parse_basic_auth_refuses_malformed_with_the_challenge(header: str):
    # Old code: None, i.e. served as anonymous.
    with pytest.raises(BasicChallenge) as raised:
        parse_basic_auth({"HTTP_AUTHORIZATION": header})
    assert ("WWW-Authenticate", CHALLENGE) in raised.value.get_headers()


def _bcrypt_like(rounds: int, prefix: str = "$2a$") -> str:
    return f"{prefix}{rounds:02d}$" + "s" * 22 + "h" * 31


class CostClock(FakeClock):
    """A clock that bcrypt (faked) moves by 2**cost milliseconds, and sleep by its argument."""

    def checkpw(self, password: bytes, hashed: bytes) -> bool:
        self.now += 2 ** int(hashed[4:6]) / 1000
        return False

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_every_failure_lasts_a_reference_verification(monkeypatch: pytest.MonkeyPatch):
    # Old code: after a cost-12 user, an unknown one took a cost-12 time and a cost-6
    # (pgcrypto) user a cost-6 time; after a cost-6 user, an unknown one was quick.
    clock = CostClock()
    monkeypatch.setattr(auth.bcrypt, "checkpw", clock.checkpw)
    registry = FakeRegistry(pg=_bcrypt_like(6), ours=_bcrypt_like(auth.REFERENCE_ROUNDS),
                            cheap=_bcrypt_like(4))
    authenticator = Authenticator(registry, 60, clock=clock, sleep=clock.sleep)
    reference = 2 ** auth.REFERENCE_ROUNDS / 1000
    durations = []
    for user in ("ours", "pg", "mallory", "pg", "cheap", "mallory", "ours", "pg"):
        started = clock.now
        assert not authenticator.authenticate(user, "wrong")
        durations.append(clock.now - started)
    assert durations == pytest.approx([reference] * len(durations))


def test_first_cheap_failure_is_padded_by_measuring_the_reference(
    monkeypatch: pytest.MonkeyPatch,
):
    clock = CostClock()
    monkeypatch.setattr(auth.bcrypt, "checkpw", clock.checkpw)
    authenticator = Authenticator(FakeRegistry(pg=_bcrypt_like(6)), 60, clock=clock,
                                  sleep=clock.sleep)
    assert not authenticator.authenticate("pg", "wrong")
    assert clock.now - 1000.0 >= 2 ** auth.REFERENCE_ROUNDS / 1000


def _median_seconds(authenticator: Authenticator, user: str, tries: int) -> float:
    durations = []
    for _ in range(tries):
        started = time.perf_counter()
        assert not authenticator.authenticate(user, "wrong")
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def test_unknown_and_known_users_take_the_same_time():
    # Real bcrypt, the case: a hash of the default cost as bzrstore writes, a
    # cost-6 one as pgcrypto writes, and no user at all, interleaved so load hits all alike.
    registry = FakeRegistry(pg=hash_password("secret", 6), ours=hash_password("secret"))
    authenticator = Authenticator(registry, 60)
    users = ("ours", "pg", "mallory")
    samples: dict[str, list[float]] = {user: [] for user in users}
    for _ in range(3):
        for user in users:
            samples[user].append(_median_seconds(authenticator, user, 1))
    typical = {user: statistics.median(values) for user, values in samples.items()}
    # Unpadded, cost 6 is 16 times quicker than cost 10; allow 35 % for a noisy machine.
    assert typical["pg"] == pytest.approx(typical["ours"], rel=0.35), typical
    assert typical["mallory"] == pytest.approx(typical["ours"], rel=0.35), typical
