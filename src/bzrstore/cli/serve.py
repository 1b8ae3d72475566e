"""``bzrstore serve``: gunicorn with the packaged configuration, or werkzeug's dev server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bzrstore.cli.common import CommandError, command, registry_session
from bzrstore.config import Settings, gunicorn_settings

# Shipped inside the package so `bzrstore serve` works from any directory.
GUNICORN_CONF = Path(__file__).parent.parent / "gunicorn.conf.py"
# The development server listens where gunicorn.conf.py does by default.
DEV_BIND = gunicorn_settings(environ={})["bind"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore serve``."""
    serve = command(commands, "serve", "serve the app with gunicorn", _serve)
    serve.add_argument("--bind", metavar="HOST:PORT", help="address to listen on")
    serve.add_argument("--dev", action="store_true", help="use werkzeug's development server")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.dev or settings.dev_server:
        from werkzeug.serving import run_simple

        from bzrstore import create_app

        host, port = _split_bind(args.bind or DEV_BIND)
        run_simple(host, port, create_app(settings), threaded=True)
        return 0
    # Before gunicorn: a schema that needs `bzrstore db upgrade` is one line here, not
    # every worker failing to boot (what `gunicorn -c gunicorn.conf.py` alone shows).
    with registry_session(settings):
        pass
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
