"""What the registry raises: its base error, and a schema older than the code."""

from __future__ import annotations


class RegistryError(Exception):
    """Something the registry cannot do."""


class SchemaBehind(RegistryError):
    """The database's schema is older than this bzrstore's (``bzrstore db upgrade`` fixes it)."""

    def __init__(self, version: int, latest: int) -> None:
        self.version, self.latest = version, latest
        # One line: the CLI prints it as it is, gunicorn's log ends its traceback with it.
        super().__init__(
            f"the registry's schema is at version {version}, this bzrstore needs {latest}:"
            " run 'bzrstore db upgrade' with the same BZRSTORE_DATABASE_URL"
            " (as a role that may create tables)"
        )
