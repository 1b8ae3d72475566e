"""Shared pieces of the ``bzrstore`` command line: its error, subcommands, the registry."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bzrstore.config import CONFIG_FILE_ENV, GUNICORN_OPTIONS, OPTIONS, Option, Settings
from bzrstore.registry import Registry, open_registry

Handler = Callable[[Settings, argparse.Namespace], int]


class CommandError(Exception):
    """A failure reported as one line on stderr with exit status 1."""


def command(commands: argparse._SubParsersAction, name: str, help: str,
            handler: Handler) -> argparse.ArgumentParser:
    """Add subcommand ``name`` that runs ``handler(settings, args)``."""
    parser = commands.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser


def fail(message: str) -> int:
    """Print ``message`` as a bzrstore error; return the failing exit status."""
    print(f"bzrstore: error: {message}", file=sys.stderr)
    return 1


@contextmanager
def registry_session(settings: Settings) -> Iterator[Registry]:
    """The configured registry with its schema ready, closed afterwards.

    Ready as for the service: the embedded SQLite registry upgrades itself (a command
    may be the first thing ever run on it); on PostgreSQL only ``bzrstore db upgrade``
    changes the schema, and a behind one is SchemaBehind, one line saying so.
    """
    registry = open_registry(settings)
    try:
        registry.prepare_schema()
        yield registry
    finally:
        registry.close()


def describe_settings() -> str:
    """Every setting of both tables, its variable and default, for ``--help``."""
    lines = [f"Settings (environment, or keys of the TOML file named by {CONFIG_FILE_ENV}):"]
    lines += map(_describe, OPTIONS)
    lines.append("gunicorn settings (environment of 'bzrstore serve' or"
                 " 'gunicorn -c gunicorn.conf.py'):")
    lines += map(_describe, GUNICORN_OPTIONS)
    return "\n".join(lines)


def _describe(option: Option) -> str:
    default = option.default
    shown = option.shown or (",".join(default) if isinstance(default, tuple) else default)
    return f"  {option.env} (default: {shown!s:s})\n      {option.help}"
