"""``bzrstore db``: the registry's schema version, and upgrading it."""

from __future__ import annotations

import argparse
from contextlib import closing
from datetime import UTC, datetime

from bzrstore.cli.common import command
from bzrstore.config import Settings
from bzrstore.registry import LATEST_VERSION, open_registry
from bzrstore.registry.migrations import pending


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore db upgrade|status``."""
    db = commands.add_parser("db", help="the registry's schema: status and upgrade")
    actions = db.add_subparsers(title="actions", required=True, metavar="ACTION")
    command(actions, "upgrade",
            "apply the schema migrations the database lacks (the only command that"
            " changes the schema on PostgreSQL; safe to run again, and from several"
            " places at once)", _upgrade)
    command(actions, "status",
            "show the schema's version and pending migrations (exit status 1 if behind)",
            _status)


def _upgrade(settings: Settings, args: argparse.Namespace) -> int:
    with closing(open_registry(settings)) as registry:
        applied = registry.upgrade_schema()
        version = registry.schema_version()
    for migration in applied:
        print(f"applied migration {migration.version}: {migration.description}")
    if not applied:
        print(f"schema is current (version {version})")
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    with closing(open_registry(settings)) as registry:
        version = registry.schema_version()
        applied = registry.applied_migrations()
    for number, description, applied_at in applied:
        when = datetime.fromtimestamp(applied_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        print(f"applied migration {number} ({when}): {description}")
    for migration in pending(version):
        print(f"pending migration {migration.version}: {migration.description}")
    if version < LATEST_VERSION:
        print(f"schema version {version} is behind {LATEST_VERSION}: run 'bzrstore db upgrade'")
        return 1
    print(f"schema is current (version {version}; this bzrstore's: {LATEST_VERSION})")
    return 0
