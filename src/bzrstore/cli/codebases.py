"""``bzrstore codebase``: register, unregister and list codebases (drop-local: transfer)."""

from __future__ import annotations

import argparse

from bzrstore.cli import transfer
from bzrstore.cli.common import command, fail, registry_session
from bzrstore.config import Settings
from bzrstore.repos.names import check_codebase


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore codebase add|remove|list|drop-local``."""
    codebase = commands.add_parser("codebase", help="manage registered codebases")
    actions = codebase.add_subparsers(title="actions", required=True, metavar="ACTION")
    command(actions, "add", "register codebases", _add).add_argument(
        "names", nargs="+", metavar="NAME")
    command(actions, "remove", "unregister codebases (repositories stay on disk)",
            _remove).add_argument("names", nargs="+", metavar="NAME")
    command(actions, "list", "list codebases", _list).add_argument(
        "--local", action="store_true", help="only those whose repository is on this node")
    transfer.add_drop_local(actions)


def _add(settings: Settings, args: argparse.Namespace) -> int:
    names = [check_codebase(name) for name in args.names]
    with registry_session(settings) as registry:
        for name in names:
            added = registry.add_codebase(name)
            print(f"added codebase {name}" if added else f"codebase {name} already registered")
    return 0


def _remove(settings: Settings, args: argparse.Namespace) -> int:
    names = [check_codebase(name) for name in args.names]
    status = 0
    with registry_session(settings) as registry:
        for name in names:
            if registry.remove_codebase(name):
                print(f"removed codebase {name} (its repository is kept on disk)")
            else:
                status = fail(f"no such codebase: {name}")
    return status


def _list(settings: Settings, args: argparse.Namespace) -> int:
    with registry_session(settings) as registry:
        names = registry.list_codebases()
    if args.local:
        from bzrstore.node.copies import local_codebases

        names = local_codebases(settings.repos_dir, names)
    for name in names:
        print(name)
    return 0
