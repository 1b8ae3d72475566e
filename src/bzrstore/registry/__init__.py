"""Codebases, workers, branch tips and the push log, in SQLite or PostgreSQL.

Plain SQL behind one small interface (``base.Registry``); the backends supply connections.
The schema is versioned: ``migrations`` lists its steps, ``schema`` applies and checks them.
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
from bzrstore.registry.errors import SchemaBehind
from bzrstore.registry.migrations import LATEST_VERSION, MIGRATIONS, Migration
from bzrstore.registry.postgres import PostgresRegistry
from bzrstore.registry.sqlite import SQLiteRegistry

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Migration", "PostgresRegistry", "Registry",
           "RegistryError", "RegistryUnavailable", "SQLiteRegistry", "SchemaBehind",
           "WorkerExists", "WorkerInfo", "open_registry"]


def open_registry(settings: Settings) -> Registry:
    """The registry the settings name: PostgreSQL for a URL, else SQLite under data."""
    if settings.database_url:
        return PostgresRegistry(settings.database_url, settings.db_pool_size)
    return SQLiteRegistry(settings.sqlite_path)
