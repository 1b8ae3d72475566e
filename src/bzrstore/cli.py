"""The bzrstore command: serve the app, manage codebases and workers, repair storage."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .auth import hash_password
from .config import ConfigError, Settings, describe_settings, load_settings
from .names import InvalidName, check_codebase, check_worker, split_branch_path
from .registry import Registry, RegistryError, open_registry

# Shipped inside the package so `bzrstore serve` works from any directory.
GUNICORN_CONF = Path(__file__).parent / "gunicorn.conf.py"
# The development server listens where gunicorn.conf.py does by default.
DEV_BIND = "127.0.0.1:8000"
# How long export, import --replace and drop-local wait for a push to release the lock.
LOCK_WAIT_SECONDS = 10.0

Handler = Callable[[Settings, argparse.Namespace], int]


class CommandError(Exception):
    """A failure reported as one line on stderr with exit status 1."""


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
        return _fail(str(exc))
    except BrokenPipeError:
        return _fail("the reader of the output went away")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # Breezy errors from break-lock/check: one line, no traceback
        return _fail(f"{type(exc).__name__}: {exc}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with every setting listed in its help."""
    parser = argparse.ArgumentParser(
        prog="bzrstore", description="A Bazaar repository store served over HTTP.",
        epilog=describe_settings(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    serve = _command(commands, "serve", "serve the app with gunicorn", _serve)
    serve.add_argument("--bind", metavar="HOST:PORT", help="address to listen on")
    serve.add_argument("--dev", action="store_true", help="use werkzeug's development server")

    codebase = commands.add_parser("codebase", help="manage registered codebases")
    actions = codebase.add_subparsers(title="actions", required=True, metavar="ACTION")
    _command(actions, "add", "register codebases", _codebase_add).add_argument(
        "names", nargs="+", metavar="NAME")
    _command(actions, "remove", "unregister codebases (repositories stay on disk)",
             _codebase_remove).add_argument("names", nargs="+", metavar="NAME")
    _command(actions, "list", "list codebases", _codebase_list).add_argument(
        "--local", action="store_true", help="only those whose repository is on this node")
    drop = _command(actions, "drop-local", "delete this node's copy after a verified move",
                    _codebase_drop_local)
    drop.add_argument("name", metavar="NAME")
    drop.add_argument("--state", required=True,
                      help="the state printed by export/import; refused if it changed since")
    _add_wait(drop)

    _add_worker_commands(commands)
    _add_transfer_commands(commands)
    _add_cluster_commands(commands)

    _command(commands, "break-lock", "break a stale lock of a repository or branch",
             _break_lock).add_argument("target", metavar="CB[/BRANCH]")
    _command(commands, "check", "verify repositories like 'brz check'", _check).add_argument(
        "codebases", nargs="*", metavar="CB", help="codebases to check (default: all)")
    return parser


def _add_worker_commands(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="manage workers (HTTP users who may push)")
    actions = worker.add_subparsers(title="actions", required=True, metavar="ACTION")
    add = _command(actions, "add", "add a worker; password from prompt or stdin", _worker_add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true", help="may use the admin pages")
    _command(actions, "passwd", "change a worker's password", _worker_passwd).add_argument(
        "name", metavar="NAME")
    _command(actions, "remove", "remove a worker", _worker_remove).add_argument(
        "name", metavar="NAME")
    _command(actions, "list", "list workers", _worker_list)
    admin = _command(actions, "admin", "grant or revoke the admin flag", _worker_admin)
    admin.add_argument("name", metavar="NAME")
    flag = admin.add_mutually_exclusive_group(required=True)
    flag.add_argument("--on", dest="admin", action="store_true", default=None)
    flag.add_argument("--off", dest="admin", action="store_false")


def _add_transfer_commands(commands: argparse._SubParsersAction) -> None:
    export = _command(commands, "export", "write a codebase's repository as a tar stream",
                      _export)
    export.add_argument("codebase", metavar="CB")
    export.add_argument("-o", "--output", metavar="FILE", default="-",
                        help="archive to write (default: - for stdout)")
    _add_wait(export)
    load = _command(commands, "import", "verify an exported codebase and put it in place",
                    _import)
    load.add_argument("archive", metavar="FILE", nargs="?", default="-",
                      help="archive to read (default: - for stdin)")
    load.add_argument("--replace", action="store_true",
                      help="replace a repository this node already has for the codebase")
    _add_wait(load)


def _add_cluster_commands(commands: argparse._SubParsersAction) -> None:
    cluster = commands.add_parser(
        "cluster", help="where nginx's consistent hash puts codebases (several nodes)")
    actions = cluster.add_subparsers(title="actions", required=True, metavar="ACTION")
    place = _command(actions, "place", "print 'CODEBASE NODE' for each codebase", _cluster_place)
    place.add_argument("codebases", nargs="*", metavar="CB",
                       help="codebases to place (default: every registered one)")
    misplaced = _command(
        actions, "misplaced",
        "print 'CODEBASE NODE' for each codebase on this node's disk that belongs elsewhere",
        _cluster_misplaced)
    misplaced.add_argument("--self", required=True, metavar="HOST:PORT", dest="self_node",
                           help="this node's address, as in the upstream")
    misplaced.add_argument("--pin", action="store_true",
                           help="print nginx pin lines ('CODEBASE SELF;') that keep them here")
    for parser in (place, misplaced):
        parser.add_argument("--node", action="append", required=True, metavar="HOST:PORT",
                            dest="nodes", help="a server of the nginx upstream, as written"
                            " there; repeat for each, new ones included")


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", metavar="SECONDS", type=float, default=LOCK_WAIT_SECONDS,
                        help="how long to wait for a repository lock held by a push"
                        f" (default: {LOCK_WAIT_SECONDS:g})")


def _command(commands: argparse._SubParsersAction, name: str, help: str,
             handler: Handler) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser


@contextmanager
def _transfer_errors() -> Iterator[None]:
    """Report a refused transfer as a command error (transfer loads Breezy, so lazily)."""
    from .transfer import TransferError

    try:
        yield
    except TransferError as exc:
        raise CommandError(str(exc)) from exc


def _fail(message: str) -> int:
    print(f"bzrstore: error: {message}", file=sys.stderr)
    return 1


@contextmanager
def _open_registry(settings: Settings) -> Iterator[Registry]:
    registry = open_registry(settings)
    try:
        registry.ensure_schema()
        yield registry
    finally:
        registry.close()


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.dev or settings.dev_server:
        from werkzeug.serving import run_simple

        from . import create_app

        host, port = _split_bind(args.bind or DEV_BIND)
        run_simple(host, port, create_app(settings), threaded=True)
        return 0
    command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    if args.bind:
        command += ["--bind", args.bind]
    os.execvp(sys.executable, command)
    return 1  # not reached: execvp replaces this process or raises


def _split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--bind wants HOST:PORT, not {bind!r}")
    return host.strip("[]"), int(port)


def _codebase_add(settings: Settings, args: argparse.Namespace) -> int:
    names = [check_codebase(name) for name in args.names]
    with _open_registry(settings) as registry:
        for name in names:
            added = registry.add_codebase(name)
            print(f"added codebase {name}" if added else f"codebase {name} already registered")
    return 0


def _codebase_remove(settings: Settings, args: argparse.Namespace) -> int:
    names = [check_codebase(name) for name in args.names]
    status = 0
    with _open_registry(settings) as registry:
        for name in names:
            if registry.remove_codebase(name):
                print(f"removed codebase {name} (its repository is kept on disk)")
            else:
                status = _fail(f"no such codebase: {name}")
    return status


def _codebase_list(settings: Settings, args: argparse.Namespace) -> int:
    with _open_registry(settings) as registry:
        names = registry.list_codebases()
    if args.local:
        from .transfer import local_codebases

        names = local_codebases(settings.repos_dir, names)
    for name in names:
        print(name)
    return 0


def _codebase_drop_local(settings: Settings, args: argparse.Namespace) -> int:
    name = check_codebase(args.name)
    from .storage import Storage
    from .transfer import drop_local

    root = Storage(settings.repos_dir).codebase_dir(name)
    with _transfer_errors():
        print(drop_local(root, name, args.state, args.wait))
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    name = check_codebase(args.codebase)
    with _open_registry(settings) as registry:
        if not registry.codebase_exists(name):
            raise CommandError(f"no such codebase: {name}")
    from .storage import Storage
    from .transfer import describe, export_codebase

    root = Storage(settings.repos_dir).codebase_dir(name)
    with _transfer_errors(), _archive_output(args.output) as out:
        manifest = export_codebase(root, name, out, args.wait)
    print(f"exported {describe(manifest)}", file=sys.stderr)
    return 0


def _cluster_place(settings: Settings, args: argparse.Namespace) -> int:
    from .ring import Ring

    ring = Ring(args.nodes)
    names = [check_codebase(name) for name in args.codebases]
    if not names:
        with _open_registry(settings) as registry:
            names = registry.list_codebases()
    for name in names:
        print(name, ring.node_of(name))
    return 0


def _cluster_misplaced(settings: Settings, args: argparse.Namespace) -> int:
    from .ring import Ring
    from .transfer import local_codebases

    if args.self_node not in args.nodes:
        raise CommandError(f"--self {args.self_node} is not one of the --node addresses")
    ring = Ring(args.nodes)
    with _open_registry(settings) as registry:
        names = local_codebases(settings.repos_dir, registry.list_codebases())
    for name in names:
        node = ring.node_of(name)
        if node != args.self_node:
            print(f"{name} {args.self_node};" if args.pin else f"{name} {node}")
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
    from .transfer import describe, import_codebase

    with (_transfer_errors(), _open_registry(settings) as registry,
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


def read_password(prompt: str = "Password: ") -> str:
    """A new password: prompted twice on a terminal, else one line of stdin."""
    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("Repeat password: ") != password:
            raise CommandError("passwords do not match")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("empty password refused")
    return password


def _new_password_hash() -> str:
    try:
        return hash_password(read_password())
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _worker_add(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with _open_registry(settings) as registry:
        # Checked first so nobody types a password for a name that is taken.
        if registry.worker_password_hash(name) is not None:
            raise CommandError(f"worker {name} already exists")
        registry.add_worker(name, _new_password_hash(), admin=args.admin)
    print(f"added worker {name}" + (" (admin)" if args.admin else ""))
    return 0


def _worker_passwd(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with _open_registry(settings) as registry:
        if registry.worker_password_hash(name) is None:
            raise CommandError(f"no such worker: {name}")
        if not registry.set_worker_password(name, _new_password_hash()):
            raise CommandError(f"no such worker: {name}")
    print(f"changed the password of worker {name}")
    return 0


def _worker_remove(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with _open_registry(settings) as registry:
        if not registry.remove_worker(name):
            raise CommandError(f"no such worker: {name}")
    print(f"removed worker {name}")
    return 0


def _worker_list(settings: Settings, args: argparse.Namespace) -> int:
    with _open_registry(settings) as registry:
        for worker in registry.list_workers():
            print(worker.name + (" (admin)" if worker.admin else ""))
    return 0


def _worker_admin(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with _open_registry(settings) as registry:
        if not registry.set_worker_admin(name, args.admin):
            raise CommandError(f"no such worker: {name}")
    print(f"worker {name} is {'now' if args.admin else 'no longer'} an admin")
    return 0


def _break_lock(settings: Settings, args: argparse.Namespace) -> int:
    split_branch_path(args.target)
    from .storage import break_lock

    for line in break_lock(settings, args.target):
        print(line)
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    codebases = [check_codebase(name) for name in args.codebases]
    from .storage import check_repositories

    return check_repositories(settings, codebases)
