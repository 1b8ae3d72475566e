"""``bzrstore worker``: the HTTP users who may push, their passwords and admin flags."""

from __future__ import annotations

import argparse
import getpass
import sys

from bzrstore.auth import hash_password
from bzrstore.cli.common import CommandError, command, registry_session
from bzrstore.config import Settings
from bzrstore.repos.names import check_worker


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore worker add|passwd|remove|list|admin``."""
    worker = commands.add_parser("worker", help="manage workers (HTTP users who may push)")
    actions = worker.add_subparsers(title="actions", required=True, metavar="ACTION")
    add = command(actions, "add", "add a worker; password from prompt or stdin", _add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true", help="may use the admin pages")
    command(actions, "passwd", "change a worker's password", _passwd).add_argument(
        "name", metavar="NAME")
    command(actions, "remove", "remove a worker", _remove).add_argument(
        "name", metavar="NAME")
    command(actions, "list", "list workers", _list)
    admin = command(actions, "admin", "grant or revoke the admin flag", _admin)
    admin.add_argument("name", metavar="NAME")
    flag = admin.add_mutually_exclusive_group(required=True)
    flag.add_argument("--on", dest="admin", action="store_true", default=None)
    flag.add_argument("--off", dest="admin", action="store_false")


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


def _new_password_hash(settings: Settings) -> str:
    try:
        return hash_password(read_password(), settings.bcrypt_cost)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _add(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with registry_session(settings) as registry:
        # Checked first so nobody types a password for a name that is taken.
        if registry.worker_password_hash(name) is not None:
            raise CommandError(f"worker {name} already exists")
        registry.add_worker(name, _new_password_hash(settings), admin=args.admin)
    print(f"added worker {name}" + (" (admin)" if args.admin else ""))
    return 0


def _passwd(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with registry_session(settings) as registry:
        if registry.worker_password_hash(name) is None:
            raise CommandError(f"no such worker: {name}")
        if not registry.set_worker_password(name, _new_password_hash(settings)):
            raise CommandError(f"no such worker: {name}")
    print(f"changed the password of worker {name}")
    return 0


def _remove(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with registry_session(settings) as registry:
        if not registry.remove_worker(name):
            raise CommandError(f"no such worker: {name}")
    print(f"removed worker {name}")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    with registry_session(settings) as registry:
        for worker in registry.list_workers():
            print(worker.name + (" (admin)" if worker.admin else ""))
    return 0


def _admin(settings: Settings, args: argparse.Namespace) -> int:
    name = check_worker(args.name)
    with registry_session(settings) as registry:
        if not registry.set_worker_admin(name, args.admin):
            raise CommandError(f"no such worker: {name}")
    print(f"worker {name} is {'now' if args.admin else 'no longer'} an admin")
    return 0
