"""``bzrstore cluster``: where nginx's consistent hash puts each codebase (``node/ring.py``)."""

from __future__ import annotations

import argparse

from bzrstore.cli.common import CommandError, command, registry_session
from bzrstore.config import Settings
from bzrstore.repos.names import check_codebase


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore cluster place`` and ``bzrstore cluster misplaced``."""
    cluster = commands.add_parser(
        "cluster", help="where nginx's consistent hash puts codebases (several nodes)")
    actions = cluster.add_subparsers(title="actions", required=True, metavar="ACTION")
    place = command(actions, "place", "print 'CODEBASE NODE' for each codebase", _place)
    place.add_argument("codebases", nargs="*", metavar="CB",
                       help="codebases to place (default: every registered one)")
    misplaced = command(
        actions, "misplaced",
        "print 'CODEBASE NODE' for each codebase on this node's disk that belongs elsewhere",
        _misplaced)
    misplaced.add_argument("--self", required=True, metavar="HOST:PORT", dest="self_node",
                           help="this node's address, as in the upstream")
    misplaced.add_argument("--pin", action="store_true",
                           help="print nginx pin lines ('CODEBASE SELF;') that keep them here")
    for parser in (place, misplaced):
        parser.add_argument("--node", action="append", required=True, metavar="HOST:PORT",
                            dest="nodes", help="a server of the nginx upstream, as written"
                            " there; repeat for each, new ones included")


def _place(settings: Settings, args: argparse.Namespace) -> int:
    from bzrstore.node.ring import Ring

    ring = Ring(args.nodes)
    names = [check_codebase(name) for name in args.codebases]
    if not names:
        with registry_session(settings) as registry:
            names = registry.list_codebases()
    for name in names:
        print(name, ring.node_of(name))
    return 0


def _misplaced(settings: Settings, args: argparse.Namespace) -> int:
    from bzrstore.node.copies import local_codebases
    from bzrstore.node.ring import Ring

    if args.self_node not in args.nodes:
        raise CommandError(f"--self {args.self_node} is not one of the --node addresses")
    ring = Ring(args.nodes)
    with registry_session(settings) as registry:
        names = local_codebases(settings.repos_dir, registry.list_codebases())
    for name in names:
        node = ring.node_of(name)
        if node != args.self_node:
            print(f"{name} {args.self_node};" if args.pin else f"{name} {node}")
    return 0
