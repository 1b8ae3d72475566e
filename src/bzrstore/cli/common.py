"""Shared pieces of the ``bzrstore`` command line: its error, subcommands, the registry."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bzrstore.config import Settings
from bzrstore.registry import Registry
from bzrstore.registry import open_registry as _open

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
def open_registry(settings: Settings) -> Iterator[Registry]:
    """The configured registry, with its tables, closed afterwards."""
    registry = _open(settings)
    try:
        registry.ensure_schema()
        yield registry
    finally:
        registry.close()
