"""The bzrstore command: serve the app, manage codebases and workers, repair storage."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from bzrstore.auth import hash_password
from bzrstore.cli.common import CommandError, command, fail, open_registry
from bzrstore.cli.nodes import add_cluster_commands, add_drop_local, add_transfer_commands
from bzrstore.config import ConfigError, Settings, describe_settings, load_settings
from bzrstore.registry import RegistryError
from bzrstore.repos.names import InvalidName, check_codebase, check_worker, split_branch_path

# Shipped inside the package so `bzrstore serve` works from any directory.
GUNICORN_CONF = Path(__file__).parent.parent / "gunicorn.conf.py"
# The development server listens where gunicorn.conf.py does by default.
DEV_BIND = "127.0.0.1:8000"


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

    serve = command(commands, "serve", "serve the app with gunicorn", _serve)
    serve.add_argument("--bind", metavar="HOST:PORT", help="address to listen on")
    serve.add_argument("--dev", action="store_true", help="use werkzeug's development server")

    codebase = commands.add_parser("codebase", help="manage registered codebases")
    actions = codebase.add_subparsers(title="actions", required=True, metavar="ACTION")
    command(actions, "add", "register codebases", _codebase_add).add_argument(
        "names", nargs="+", metavar="NAME")
    command(actions, "remove", "unregister codebases (repositories stay on disk)",
            _codebase_remove).add_argument("names", nargs="+", metavar="NAME")
    command(actions, "list", "list codebases", _codebase_list).add_argument(
        "--local", action="store_true", help="only those whose repository is on this node")
    add_drop_local(actions)

    _add_worker_commands(commands)
    add_transfer_commands(commands)
    add_cluster_commands(commands)

    command(commands, "break-lock", "break a stale lock of a repository or branch",
            _break_lock).add_argument("target", metavar="CB[/BRANCH]")
    check = command(commands, "check", "verify repositories like 'brz check'", _check)
    check.add_argument("codebases", nargs="*", metavar="CB",
                       help="codebases to check (default: all)")
    check.add_argument("--repair", action="store_true",
                       help="first break locks whose holder died on this host and remove what "
                            "interrupted pushes left (stale uploads, staging directories)")
    return parser


def _add_worker_commands(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="manage workers (HTTP users who may push)")
    actions = worker.add_subparsers(title="actions", required=True, metavar="ACTION")
    add = command(actions, "add", "add a worker; password from prompt or stdin", _worker_add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true", help="may use the admin pages")
    command(actions, "passwd", "change a worker's password", _worker_passwd).add_argument(
        "name", metavar="NAME")
    command(actions, "remove", "remove a worker", _worker_remove).add_argument(
        "name", metavar="NAME")
    command(actions, "list", "list workers", _worker_list)
    admin = command(actions, "admin", "grant or revoke the admin flag", _worker_admin)
    admin.add_argument("name", metavar="NAME")
    flag = admin.add_mutually_exclusive_group(required=True)
    flag.add_argument("--on", dest="admin", action="store_true", default=None)
    flag.add_argument("--off", dest="admin", action="store_false")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.dev or settings.dev_server:
        from werkzeug.serving import run_simple

        from bzrstore import create_app

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
    with open_registry(settings) as registry:
        for name in names:
            added = registry.add_codebase(name)
            print(f"added codebase {name}" if added else f"codebase {name} already registered")
    return 0


def _codebase_remove(settings: Settings, args: argparse.Namespace) -> int:
    names = [check_codebase(name) for name in args.names]
    status = 0
    with open_registry(settings) as registry:
        for name in names:
            if registry.remove_codebase(name):
                print(f"removed codebase {name} (its repository is kept on disk)")
            else:
                status = fail(f"no such codebase: {name}")
    return status


def _codebase_list(settings: Settings, args: argparse.Namespace) -> int:
    with open_registry(settings) as registry:
        names = registry.list_codebases()
    if args.local:
        from bzrstore.node.transfer import local_codebases

        names = local_codebases(settings.repos_dir, names)
    for name in names:
        print(name)
    return 0


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
    with open_registry(settings) as registry:
        # Checked first so nobody types a password for a name that is taken.
        if registry.worker_password_hash(name) is not None:
            raise CommandError(f"worker {name} already exists")
        registry.add_worker(name, _new_password_hash(), admin=args.admin)
    print(f"added worker {name}" + (" (admin)" if args.admin else ""))
    return 0


def _worker_passwd(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with open_registry(settings) as registry:
        if registry.worker_password_hash(name) is None:
            raise CommandError(f"no such worker: {name}")
        if not registry.set_worker_password(name, _new_password_hash()):
            raise CommandError(f"no such worker: {name}")
    print(f"changed the password of worker {name}")
    return 0


def _worker_remove(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with open_registry(settings) as registry:
        if not registry.remove_worker(name):
            raise CommandError(f"no such worker: {name}")
    print(f"removed worker {name}")
    return 0


def _worker_list(settings: Settings, args: argparse.Namespace) -> int:
    with open_registry(settings) as registry:
        for worker in registry.list_workers():
            print(worker.name + (" (admin)" if worker.admin else ""))
    return 0


def _worker_admin(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with open_registry(settings) as registry:
        if not registry.set_worker_admin(name, args.admin):
            raise CommandError(f"no such worker: {name}")
    print(f"worker {name} is {'now' if args.admin else 'no longer'} an admin")
    return 0


def _break_lock(settings: Settings, args: argparse.Namespace) -> int:
    split_branch_path(args.target)
    from bzrstore.repos.branches import break_lock

    for line in break_lock(settings.repos_dir, args.target):
        print(line)
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    codebases = [check_codebase(name) for name in args.codebases]
    from bzrstore.repos.check import check_codebases

    failed = False
    for finding in check_codebases(settings.repos_dir, codebases, repair=args.repair):
        print(finding.text if finding.codebase is None else f"{finding.codebase}: {finding.text}")
        failed = failed or finding.failed
    return 1 if failed else 0
