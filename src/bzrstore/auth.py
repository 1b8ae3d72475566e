"""Basic credentials -> worker: bcrypt verification with a short-lived cache of successes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import bcrypt

from bzrstore.config import DEFAULT_BCRYPT_COST
from bzrstore.errors import unauthorized
from bzrstore.login_limits import LoginLimits

# Default cost of the hashes we write (BZRSTORE_BCRYPT_COST); pgcrypto's gen_salt('bf')
# writes cost 6.
BCRYPT_ROUNDS = DEFAULT_BCRYPT_COST
# We write $2a$, the only bcrypt prefix pgcrypto's crypt() knows: given $2b$ it silently
# falls back to DES, so Janitor's runner and site (`password = crypt($2, password)`)
# would lock the worker out. $2b$ (OpenBSD, 2014) only fixed $2a$'s length counter,
# which wrapped for passwords of 256 bytes and more; bcrypt reads 72 bytes at most and
# we refuse longer passwords, so both prefixes compute the same hash for every password
# we accept (8-bit characters included: pgcrypto carries the 2011 crypt_blowfish fix).
HASH_PREFIX = b"2a"
# bcrypt reads only this many bytes of a password.
BCRYPT_MAX_PASSWORD_BYTES = 72
# $2a$ (pgcrypto), $2b$ (pyca bcrypt), $2y$ (PHP); cost, then 22 salt + 31 hash characters.
BCRYPT_HASH_RE = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
# Every failed verification takes at least as long as one at this cost (the cost
# bzrstore writes: the store passes BZRSTORE_BCRYPT_COST), so neither an unknown user nor
# a cheaper pgcrypto hash (cost 6) answers sooner than the hashes bzrstore makes.
REFERENCE_ROUNDS = BCRYPT_ROUNDS
# Salt and hash of the hash verified against when there is no usable stored one.
_DUMMY_SALT_AND_HASH = "abcdefghijklmnopqrstuu" + "." * 31


class PasswordHashes(Protocol):
    """What the authenticator needs from the registry."""

    def worker_password_hash(self, name: str) -> str | None:
        """The stored password hash of a worker, or None."""
        ...


def hash_password(password: str, rounds: int | None = None) -> str:
    """A bcrypt ($2a$) hash of ``password``; refuses what bcrypt would silently truncate."""
    encoded = password.encode()
    if len(encoded) > BCRYPT_MAX_PASSWORD_BYTES:
        raise ValueError(f"password longer than {BCRYPT_MAX_PASSWORD_BYTES} bytes")
    salt = bcrypt.gensalt(BCRYPT_ROUNDS if rounds is None else rounds, prefix=HASH_PREFIX)
    return bcrypt.hashpw(encoded, salt).decode("ascii")


def parse_basic_auth(environ: dict[str, Any]) -> tuple[str, str] | None:
    """The (username, password) of a Basic Authorization header; None without one.

    A header that is there but is not valid ``Basic base64(user:password)`` is a 401,
    never anonymous: a client that meant to authenticate must learn that it did not.
    """
    header = environ.get("HTTP_AUTHORIZATION", "").strip()
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError("not Basic")
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise unauthorized("malformed credentials: Basic user:password expected") from exc
    username, colon, password = decoded.partition(":")
    if not username or not colon:
        raise unauthorized("malformed credentials: Basic user:password expected")
    return username, password


class Authenticator:
    """Checks worker credentials against the registry, caching successes for a while."""

    def __init__(self, registry: PasswordHashes, ttl_seconds: float,
                 max_entries: int = 1024, clock: Callable[[], float] = time.monotonic,
                 limits: LoginLimits | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 reference_rounds: int = REFERENCE_ROUNDS) -> None:
        self.registry = registry
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self.limits = limits
        self.sleep = sleep
        self.reference_rounds = reference_rounds
        # Fixed, never taken from hashes seen: what an unknown user costs must not
        # depend on who logged in before.
        self._dummy_hash = f"$2b${reference_rounds:02d}${_DUMMY_SALT_AND_HASH}"
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        # Cached keys are useless outside this process, so memory is no oracle.
        self._key = secrets.token_bytes(32)
        # How long the last reference-cost verification took: the floor of a failure.
        self._reference_seconds: float | None = None

    def authenticate(self, username: str, password: str, client: str = "") -> bool:
        """Whether the credentials belong to a worker; same answer and time for unknown users.

        Raises ``LoginLimited`` (429), before any hashing, when ``client`` (the peer
        address) or ``username`` has failed too often; a cached success skips that check.
        """
        stored = self.registry.worker_password_hash(username)
        match = BCRYPT_HASH_RE.fullmatch(stored) if stored else None
        key = self._cache_key(username, password, stored) if match and stored else None
        if key is not None and self._cached(key):
            return True
        if self.limits is not None:
            self.limits.check(client, username)
        started = self.clock()
        rounds = int(match.group(1)) if match else self.reference_rounds
        verified = self._verify(password, stored if match and stored else self._dummy_hash)
        if rounds == self.reference_rounds:
            self._reference_seconds = self.clock() - started
        if verified and key is not None:
            self._remember(key)
            return True
        self._pad_failure(started, rounds)
        if self.limits is not None:
            self.limits.record_failure(client, username)
        return False

    def _pad_failure(self, started: float, rounds: int) -> None:
        """Make a failure last as long as a reference-cost verification at least."""
        if rounds >= self.reference_rounds:
            return
        if self._reference_seconds is None:
            # First cheap failure in this process: the measurement is the padding.
            reference_started = self.clock()
            self._verify("", self._dummy_hash)
            self._reference_seconds = self.clock() - reference_started
            return
        remaining = self._reference_seconds - (self.clock() - started)
        if remaining > 0:
            self.sleep(remaining)

    @staticmethod
    def _verify(password: str, stored: str) -> bool:
        # Truncate as crypt() did when it made the hash, rather than refuse.
        encoded = password.encode("utf-8", "surrogatepass")[:BCRYPT_MAX_PASSWORD_BYTES]
        try:
            return bcrypt.checkpw(encoded, stored.encode("ascii"))
        except ValueError:
            return False

    def _cache_key(self, username: str, password: str, stored: str) -> bytes:
        # The stored hash is part of the key: a new password or a removed worker
        # misses the cache at once.
        digest = hashlib.blake2b(key=self._key, digest_size=32)
        for part in (username, password, stored):
            encoded = part.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
        return digest.digest()

    def _cached(self, key: bytes) -> bool:
        with self._lock:
            expires = self._cache.get(key)
            if expires is None:
                return False
            if expires <= self.clock():
                del self._cache[key]
                return False
            self._cache.move_to_end(key)
            return True

    def _remember(self, key: bytes) -> None:
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            self._cache[key] = self.clock() + self.ttl_seconds
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)

