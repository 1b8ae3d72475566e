"""``bzrstore export``, ``import`` and ``codebase drop-local``: move a codebase between nodes.

The archive is a verified tar stream (``node/archive.py`` writes it, ``node/unpack.py``
puts it in place); drop-local removes a node's copy after the move (``node/copies.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bzrstore.cli.common import CommandError, command, registry_session
from bzrstore.config import Settings
from bzrstore.repos.names import check_codebase

# How long export, import --replace and drop-local wait for a push to release the lock.
LOCK_WAIT_SECONDS = 10.0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore export`` and ``bzrstore import``."""
    export = command(commands, "export", "write a codebase's repository as a tar stream",
                     _export)
    export.add_argument("codebase", metavar="CB")
    export.add_argument("-o", "--output", metavar="FILE", default="-",
                        help="archive to write (default: - for stdout)")
    _add_wait(export)
    load = command(commands, "import", "verify an exported codebase and put it in place",
                   _import)
    load.add_argument("archive", metavar="FILE", nargs="?", default="-",
                      help="archive to read (default: - for stdin)")
    load.add_argument("--replace", action="store_true",
                      help="replace a repository this node already has for the codebase")
    _add_wait(load)


def add_drop_local(actions: argparse._SubParsersAction) -> None:
    """``bzrstore codebase drop-local``."""
    drop = command(actions, "drop-local", "delete this node's copy after a verified move",
                   _drop_local)
    drop.add_argument("name", metavar="NAME")
    drop.add_argument("--state", required=True,
                      help="the state printed by export/import; refused if it changed since")
    _add_wait(drop)


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", metavar="SECONDS", type=float, default=LOCK_WAIT_SECONDS,
                        help="how long to wait for a repository lock held by a push"
                        f" (default: {LOCK_WAIT_SECONDS:g})")


@contextmanager
def _transfer_errors() -> Iterator[None]:
    """Report a refused transfer as a command error (transfer loads Breezy, so lazily)."""
    from bzrstore.node.archive import TransferError

    try:
        yield
    except TransferError as exc:
        raise CommandError(str(exc)) from exc


def _drop_local(settings: Settings, args: argparse.Namespace) -> int:
    name = check_codebase(args.name)
    from bzrstore.node.copies import drop_local
    from bzrstore.repos.storage import Storage

    root = Storage(settings.repos_dir).codebase_dir(name)
    with _transfer_errors():
        print(drop_local(root, name, args.state, args.wait))
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    name = check_codebase(args.codebase)
    with registry_session(settings) as registry:
        if not registry.codebase_exists(name):
            raise CommandError(f"no such codebase: {name}")
    from bzrstore.node.archive import export_codebase
    from bzrstore.repos.codebase_state import describe
    from bzrstore.repos.storage import Storage

    root = Storage(settings.repos_dir).codebase_dir(name)
    with _transfer_errors(), _archive_output(args.output) as out:
        manifest = export_codebase(root, name, out, args.wait)
    print(f"exported {describe(manifest)}", file=sys.stderr)
    return 0


@contextmanager
def _archive_output(output: str) -> Iterator[BinaryIO]:
    """stdout, or a file that appears under its name only once the export is whole."""
    if output == "-":
        if sys.stdout.isatty():
            raise CommandError("refusing to write an archive to a terminal: use -o FILE or a pipe")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(output)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("xb") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from bzrstore.node.unpack import import_codebase
    from bzrstore.repos.codebase_state import describe

    with (_transfer_errors(), registry_session(settings) as registry,
          _archive_input(args.archive) as source):
        manifest = import_codebase(settings.repos_dir, source, args.replace, args.wait)
        # The registry is shared between nodes, so the codebase is usually there already.
        registered = registry.add_codebase(manifest["codebase"])
    print(f"imported {describe(manifest)}" + (" (registered it)" if registered else ""))
    return 0


@contextmanager
def _archive_input(archive: str) -> Iterator[BinaryIO]:
    if archive == "-":
        yield sys.stdin.buffer
        return
    try:
        source = Path(archive).open("rb")
    except OSError as exc:
        raise CommandError(f"cannot read {archive}: {exc.strerror}") from exc
    with source:
        yield source
