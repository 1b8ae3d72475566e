"""``janitor-bzr-store`` and ``bzrstore janitor-serve``: start as Janitor's bzr store starts.

Janitor runs ``python3 -m janitor.bzr_store --port=9929 --listen-address=0.0.0.0
--vcs-path=/bzr --config janitor.conf``; the same flags here serve bzrstore instead:

- ``--port`` is the internal listener (``BZRSTORE_INTERNAL_BIND``: writes need no
  credentials), ``--public-port`` the public one (``GUNICORN_BIND``), both on
  ``--listen-address``;
- ``--vcs-path`` holds the repositories, ``<vcs-path>/<codebase>`` (``BZRSTORE_REPOS``);
- ``--config`` is Janitor's protobuf-text ``janitor.conf``: ``database_location`` becomes
  ``BZRSTORE_DATABASE_URL`` and the campaign names the allow-list ``BZRSTORE_CAMPAIGNS``
  (with ``debian``, where Janitor's workers push their ``debian/latest`` cache branch);
- ``--client-max-size`` is ``BZRSTORE_MAX_BODY_BYTES`` (0, Janitor's "no limit", keeps
  bzrstore's); ``--debug`` sets ``GUNICORN_LOGLEVEL=debug``;
- ``--prometheus`` (a push gateway; bzrstore serves ``/metrics``) and ``--gcp-logging``
  are accepted and ignored.

Then gunicorn is executed exactly as ``bzrstore serve`` does; other settings come from
the environment as usual, but these flags win over it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bzrstore.cli.common import CommandError, command, fail
from bzrstore.config import ConfigError, Settings

# Janitor's worker pushes its cache branch to <codebase>/debian/latest: allowed with
# the configured campaigns, or every such push would be a 403.
CACHE_CAMPAIGNS = ("debian",)
# Shipped inside the package so it works from any directory (as `bzrstore serve`).
GUNICORN_CONF = Path(__file__).parent.parent / "gunicorn.conf.py"


@dataclass(frozen=True)
class JanitorConfig:
    """What bzrstore needs from Janitor's ``janitor.conf``."""

    database_location: str
    campaigns: tuple[str, ...]


def read_janitor_config(text: str) -> JanitorConfig:
    """Parse protobuf text format with a descriptor of only the fields read here.

    Every other field of Janitor's ``Config`` (distributions, bug trackers, …) is
    skipped, so a newer Janitor's config still reads.
    """
    from google.protobuf import text_format

    message = _config_message_class()()
    try:
        text_format.Parse(text, message, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise ConfigError(f"janitor config: {exc}") from exc
    names = tuple(campaign.name for campaign in message.campaign if campaign.name)
    return JanitorConfig(message.database_location, names)


def _config_message_class() -> type:
    """The ``Config`` and ``Campaign`` messages of Janitor's config.proto, cut down."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="bzrstore/janitor_config.proto", package="bzrstore.janitor", syntax="proto2")
    campaign = proto.message_type.add(name="Campaign")
    campaign.field.add(name="name", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    config = proto.message_type.add(name="Config")
    # The field numbers are Janitor's own (py/janitor/config.proto).
    config.field.add(name="database_location", number=4, type=field.TYPE_STRING,
                     label=field.LABEL_OPTIONAL)
    config.field.add(name="campaign", number=13, type=field.TYPE_MESSAGE,
                     label=field.LABEL_REPEATED, type_name=".bzrstore.janitor.Campaign")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bzrstore.janitor.Config"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Janitor's ``bzr_store`` flags, with its defaults."""
    parser.add_argument("--listen-address", default="localhost", help="address of both ports")
    parser.add_argument("--port", type=int, default=9929,
                        help="internal port: writes need no credentials (cluster only)")
    parser.add_argument("--public-port", type=int, default=9930, help="public port")
    parser.add_argument("--config", default="janitor.conf", help="Janitor's janitor.conf")
    parser.add_argument("--vcs-path", help="repositories, one directory per codebase")
    parser.add_argument("--client-max-size", type=int, default=1024**3,
                        help="largest request body (0: bzrstore's limit)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    parser.add_argument("--prometheus", help="ignored: bzrstore serves /metrics")
    parser.add_argument("--gcp-logging", action="store_true", help="ignored")


def janitor_environment(args: argparse.Namespace) -> dict[str, str]:
    """The bzrstore and gunicorn settings Janitor's flags and config stand for."""
    if not args.vcs_path:
        raise CommandError("--vcs-path is required")
    vcs_path = Path(args.vcs_path).absolute()
    if not vcs_path.is_dir():
        raise CommandError(f"vcs path {args.vcs_path} does not exist")
    try:
        config = read_janitor_config(Path(args.config).read_text())
    except OSError as exc:
        raise CommandError(f"cannot read {args.config}: {exc.strerror}") from exc
    host = f"[{args.listen_address}]" if ":" in args.listen_address else args.listen_address
    env = {
        "BZRSTORE_REPOS": str(vcs_path),
        "BZRSTORE_INTERNAL_BIND": f"{host}:{args.port}",
        "GUNICORN_BIND": f"{host}:{args.public_port}",
        "BZRSTORE_DATABASE_URL": config.database_location,
        "BZRSTORE_CAMPAIGNS": ",".join(
            dict.fromkeys(config.campaigns + CACHE_CAMPAIGNS)) if config.campaigns else "",
    }
    if args.client_max_size > 0:
        env["BZRSTORE_MAX_BODY_BYTES"] = str(args.client_max_size)
    if args.debug:
        env["GUNICORN_LOGLEVEL"] = "debug"
    return env


def exec_gunicorn(env: dict[str, str]) -> int:
    """Replace this process with gunicorn serving bzrstore in ``env`` over ours."""
    from bzrstore.config import load_settings

    environ = {**os.environ, **env}
    load_settings(environ)  # a bad value fails here, in one line, not in every worker
    command_line = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    os.execvpe(sys.executable, command_line, environ)
    return 1  # not reached: execvpe replaces this process or raises


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``bzrstore janitor-serve``."""
    serve = command(commands, "janitor-serve",
                    "serve with Janitor's bzr_store flags (see deploy/janitor.md)", _serve)
    add_arguments(serve)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    return exec_gunicorn(janitor_environment(args))


def main(argv: Sequence[str] | None = None) -> int:
    """The ``janitor-bzr-store`` command: Janitor's start line, bzrstore's server."""
    parser = argparse.ArgumentParser(
        prog="janitor-bzr-store", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return exec_gunicorn(janitor_environment(args))
    except (CommandError, ConfigError) as exc:
        return fail(str(exc))
