"""``bzrstore break-lock`` and ``bzrstore check``: Breezy operations on stored repositories."""

from __future__ import annotations

import argparse

from bzrstore.cli.common import command
from bzrstore.config import Settings
from bzrstore.repos.names import check_codebase, split_branch_path


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore break-lock`` and ``bzrstore check``."""
    command(commands, "break-lock", "break a stale lock of a repository or branch",
            _break_lock).add_argument("target", metavar="CB[/BRANCH]")
    check = command(commands, "check", "verify repositories like 'brz check'", _check)
    check.add_argument("codebases", nargs="*", metavar="CB",
                       help="codebases to check (default: all)")
    check.add_argument("--repair", action="store_true",
                       help="first break locks whose holder died on this host and remove what "
                            "interrupted pushes left (stale uploads, staging directories)")


# Breezy is imported only when a command needs it: the registry commands stay quick.


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
