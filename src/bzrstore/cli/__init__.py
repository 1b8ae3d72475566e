"""The bzrstore command: serve the app, manage codebases and workers, repair and move storage.

One module per command group: ``serve``, ``janitor`` (Janitor's start line), ``codebases``,
``workers``, ``transfer`` (export, import, drop-local), ``cluster``, ``repos`` (break-lock,
check), ``db`` (schema status and upgrade). Only this package prints; what it runs
returns data.
"""

from __future__ import annotations

import argparse

from bzrstore.cli import cluster, codebases, db, janitor, repos, serve, transfer, workers
from bzrstore.cli.common import CommandError, describe_settings, fail
from bzrstore.config import ConfigError, load_settings
from bzrstore.registry import RegistryError
from bzrstore.repos.names import InvalidName


def main(argv: list[str] | None = None) -> int:
    """Run the ``bzrstore`` command line; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.handler(load_settings(), args)
    except (CommandError, ConfigError, InvalidName, RegistryError) as exc:
        return fail(str(exc))
    except BrokenPipeError:
        return fail("the reader of the output went away")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # Breezy errors from break-lock/check: one line, no traceback
        return fail(f"{type(exc).__name__}: {exc}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with every setting listed in its help."""
    parser = argparse.ArgumentParser(
        prog="bzrstore", description="A Bazaar repository store served over HTTP.",
        epilog=describe_settings(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    serve.add_commands(commands)
    janitor.add_commands(commands)
    codebases.add_commands(commands)
    workers.add_commands(commands)
    transfer.add_commands(commands)
    cluster.add_commands(commands)
    repos.add_commands(commands)
    db.add_commands(commands)
    return parser
