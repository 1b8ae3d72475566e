"""Basic credentials -> worker: bcrypt verification with a short-lived cache of successes."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import bcrypt
from werkzeug.datastructures import Authorization

# Cost of the hashes we write; pgcrypto's gen_salt('bf') writes cost 6.
BCRYPT_ROUNDS = 12
# bcrypt reads only this many bytes of a password.
BCRYPT_MAX_PASSWORD_BYTES = 72
# $2a$ (pgcrypto), $2b$ (pyca bcrypt), $2y$ (PHP); cost, then 22 salt + 31 hash characters.
BCRYPT_HASH_RE = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
# Verified against when there is no usable stored hash, so that costs the same time.
_DUMMY_SALT_AND_HASH = "abcdefghijklmnopqrstuu" + "." * 31


class PasswordHashes(Protocol):
    """What the authenticator needs from the registry."""

    def worker_password_hash(self, name: str) -> str | None:
        """The stored password hash of a worker, or None."""
        ...


def hash_password(password: str, rounds: int | None = None) -> str:
    """A bcrypt ($2b$) hash of ``password``; refuses what bcrypt would silently truncate."""
    encoded = password.encode()
    if len(encoded) > BCRYPT_MAX_PASSWORD_BYTES:
        raise ValueError(f"password longer than {BCRYPT_MAX_PASSWORD_BYTES} bytes")
    salt = bcrypt.gensalt(BCRYPT_ROUNDS if rounds is None else rounds)
    return bcrypt.hashpw(encoded, salt).decode("ascii")


def parse_basic_auth(environ: dict[str, Any]) -> tuple[str, str] | None:
    """The (username, password) of a Basic Authorization header, or None."""
    auth = Authorization.from_header(environ.get("HTTP_AUTHORIZATION"))
    if auth is None or auth.type != "basic":
        return None
    # No user name (a bare "Basic", or ":pw") names no worker: treat it as no credentials.
    if not auth.username or auth.password is None:
        return None
    return auth.username, auth.password


class Authenticator:
    """Checks worker credentials against the registry, caching successes for a while."""

    def __init__(self, registry: PasswordHashes, ttl_seconds: float,
                 max_entries: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        # Cached keys are useless outside this process, so memory is no oracle.
        self._key = secrets.token_bytes(32)
        # Unknown users cost what known ones do: follow the cost of real stored hashes.
        self._dummy_cost = BCRYPT_ROUNDS

    def authenticate(self, username: str, password: str) -> bool:
        """Whether the credentials belong to a worker; same answer and time for unknown users."""
        stored = self.registry.worker_password_hash(username)
        match = BCRYPT_HASH_RE.fullmatch(stored) if stored else None
        if match is None:
            self._verify(password, self._dummy_hash())
            return False
        self._dummy_cost = int(match.group(1))
        key = self._cache_key(username, password, stored)
        if self._cached(key):
            return True
        if not self._verify(password, stored):
            return False
        self._remember(key)
        return True

    def _dummy_hash(self) -> str:
        return f"$2b${self._dummy_cost:02d}${_DUMMY_SALT_AND_HASH}"

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
