"""The key that signs form tokens, kept in the registry so every worker and node shares it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

FORM_KEY_NAME = "form-signing-key"
# 256 bits: the size of the HMAC-SHA1 block itsdangerous derives its key into and more.
FORM_KEY_BYTES = 32


class FormKeyRecords:
    """The shared form-signing key (mixed into Registry)."""

    _transaction: Callable[..., AbstractContextManager[Callable[..., Any]]]

    def form_signing_key(self) -> str:
        """The key, made on first use; concurrent first uses all end with the same one."""
        with self._transaction(write=True) as run:
            # The first writer wins; everyone else reads back what it wrote.
            run("INSERT INTO bzrstore_secret (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO NOTHING",
                (FORM_KEY_NAME, secrets.token_urlsafe(FORM_KEY_BYTES)))
            return run("SELECT value FROM bzrstore_secret WHERE name = ?",
                       (FORM_KEY_NAME,)).fetchone()[0]
