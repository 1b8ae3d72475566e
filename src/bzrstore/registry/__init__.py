"""Codebases, workers, branch tips and the push log, in SQLite or PostgreSQL.

Plain SQL behind one small interface (``base.Registry``); the backends supply connections.
"""

from __future__ import annotations

from bzrstore.config import Settings
from bzrstore.registry.base import (
    Registry,
    RegistryError,
    RegistryUnavailable,
    WorkerExists,
    WorkerInfo,
)
from bzrstore.registry.postgres import PostgresRegistry
from bzrstore.registry.sqlite import SQLiteRegistry

__all__ = ["PostgresRegistry", "Registry", "RegistryError", "RegistryUnavailable",
           "SQLiteRegistry", "WorkerExists", "WorkerInfo", "open_registry"]


def open_registry(settings: Settings) -> Registry:
    """The registry the settings name: PostgreSQL for a URL, else SQLite under data."""
    if settings.database_url:
        return PostgresRegistry(settings.database_url, settings.db_pool_size)
    return SQLiteRegistry(settings.sqlite_path)
