"""Settings: one table of every option, read from the environment and an optional file.

``OPTIONS`` are bzrstore's own (``BZRSTORE_*``, or keys of the TOML file); ``Settings`` is
built from it. ``GUNICORN_OPTIONS`` are what ``gunicorn.conf.py`` reads through
``gunicorn_settings``. Each default is written once, here; ``bzrstore --help`` lists both.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

from bzrstore.settings_rules import ConfigError, SettingsRules

__all__ = ["OPTIONS", "ConfigError", "Settings", "gunicorn_settings", "load_settings"]

GIB = 1024**3
MIB = 1024**2
# bcrypt cost of the hashes bzrstore writes. Janitor's runner and site check a worker's
# password with pgcrypto's crypt() in PostgreSQL on every request, uncached, so this cost
# is paid by Janitor's database each time: 10 is OWASP's floor for bcrypt, 16 times the
# work of pgcrypto's gen_salt('bf') (cost 6), and 73 ms there against 223 ms at 12.
DEFAULT_BCRYPT_COST = 10


def _parse_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Option:
    """One setting: its field name, environment variable, parser, default and meaning."""

    name: str
    env: str
    parse: Callable[[str], Any]
    default: Any  # or a function of the values read before it (gunicorn's)
    help: str
    shown: str = ""  # such a function's result, in words


OPTIONS: tuple[Option, ...] = (
    Option("data", "BZRSTORE_DATA", Path, Path("data"),
           "data directory: repositories under repos/, the SQLite registry"),
    Option("database_url", "BZRSTORE_DATABASE_URL", str, "",
           "postgresql://… URL; empty means SQLite in <data>/bzrstore.sqlite3"),
    Option("max_body_bytes", "BZRSTORE_MAX_BODY_BYTES", int, GIB,
           "largest smart request body accepted (413 above it)"),
    Option("campaigns", "BZRSTORE_CAMPAIGNS", _parse_list, (),
           "comma-separated allow-list of campaign names; empty allows any valid name"),
    # A cached result is exact, not stale: the key holds the stored hash, re-read on every
    # request, so a new password or a removed worker misses at once. The hour only saves
    # the bcrypt (50 ms at cost 10) of a worker that pushes every few minutes.
    Option("auth_cache_seconds", "BZRSTORE_AUTH_CACHE_SECONDS", float, 3600.0,
           "how long a process remembers that a password matched its stored hash"),
    Option("bcrypt_cost", "BZRSTORE_BCRYPT_COST", int, DEFAULT_BCRYPT_COST,
           "bcrypt cost (4-31) of the $2a$ hashes 'bzrstore worker add/passwd' write; a failed"
           " login takes as long as one check at this cost"),
    Option("codebase_cache_seconds", "BZRSTORE_CODEBASE_CACHE_SECONDS", float, 10.0,
           "how long a process trusts that a codebase is registered (removal takes this long)"),
    Option("smart_app_cache_size", "BZRSTORE_SMART_APP_CACHE_SIZE", int, 256,
           "mounted smart-server apps kept per process, one per (codebase, writable)"),
    Option("db_pool_size", "BZRSTORE_DB_POOL_SIZE", int, 4,
           "PostgreSQL connections per process (the pool's maximum)"),
    Option("mmap_threshold_bytes", "BZRSTORE_MMAP_THRESHOLD_BYTES", int, 1024**2,
           "allocations this large are returned to the OS when freed (glibc); 0 leaves malloc be"),
    Option("trusted_proxies", "BZRSTORE_TRUSTED_PROXIES", _parse_list, (),
           "comma-separated addresses or networks of the proxy in front (e.g. 127.0.0.1);"
           " X-Forwarded-* is honoured only from these, and ignored when empty"),
    Option("diff_timeout_seconds", "BZRSTORE_DIFF_TIMEOUT_SECONDS", float, 8.0,
           "a diff still running after this long is ended with a message line (its thread"
           " stops within 1 s)"),
    Option("diff_max_bytes", "BZRSTORE_DIFF_MAX_BYTES", int, 200 * MIB,
           "a diff is ended with a message line before it grows past this size"),
    Option("max_anonymous_body_bytes", "BZRSTORE_MAX_ANONYMOUS_BODY_BYTES", int, 4 * MIB,
           "largest smart request body accepted without credentials (413 above it);"
           " brz sends under 50 KB"),
    Option("client_idle_seconds", "BZRSTORE_CLIENT_IDLE_SECONDS", float, 30.0,
           "a client that sends or takes no byte for this long mid-request is dropped"),
    Option("diff_max_file_bytes", "BZRSTORE_DIFF_MAX_FILE_BYTES", int, 4 * MIB,
           "a file larger than this, or with more lines than one per 20 bytes of it, is shown"
           " in a diff as binary"),
    Option("auth_max_failures", "BZRSTORE_AUTH_MAX_FAILURES", int, 10,
           "failed logins per client address, and per user name, within the window"
           " before 429"),
    Option("auth_failure_window_seconds", "BZRSTORE_AUTH_FAILURE_WINDOW_SECONDS", float, 60.0,
           "the window over which failed logins are counted"),
    Option("runtime_dir", "BZRSTORE_RUNTIME_DIR", Path, Path(""),
           "per-node state shared by the workers (login failures, page budgets); empty means"
           " <data>/run"),
    Option("page_budget", "BZRSTORE_PAGE_BUDGET", int, 30,
           "units of expensive pages a client may fetch within the window before 429"
           " (annotate, compare, changes past page 10: 1 each; tarball: 5); 0: no budget"),
    Option("page_budget_window_seconds", "BZRSTORE_PAGE_BUDGET_WINDOW_SECONDS", float, 60.0,
           "the window over which a client's expensive pages are counted"),
    Option("page_cache_bytes", "BZRSTORE_PAGE_CACHE_BYTES", int, 32 * 2**20,
           "bytes of rendered browse pages each worker keeps, keyed by their ETag, to send"
           " a repeat unbuilt; 0: none"),
    Option("public_url", "BZRSTORE_PUBLIC_URL", str, "",
           "the service's public base URL (https://host[/prefix]) for absolute links;"
           " empty uses the request's host"),
    Option("secret_key", "BZRSTORE_SECRET_KEY", str, "",
           "key that signs form tokens; empty means one generated and kept in the registry"),
    Option("dev_server", "BZRSTORE_DEV_SERVER", _parse_bool, False,
           "'bzrstore serve' uses werkzeug's development server instead of gunicorn"),
    Option("internal_bind", "BZRSTORE_INTERNAL_BIND", str, "",
           "HOST:PORT of a trusted listener (cluster only, gunicorn): writes need no login"),
    Option("repos", "BZRSTORE_REPOS", Path, Path(""), "repositories; empty: <data>/repos"),
)
CONFIG_FILE_ENV = "BZRSTORE_CONFIG"
_BY_NAME = {option.name: option for option in OPTIONS}

THREADED_WORKER = "bzrstore.node.workers.IdleLimitedThreads"
SYNC_WORKER = "bzrstore.node.workers.IdleLimitedSync"

# gunicorn's settings, by gunicorn's own names; gunicorn.conf.py says why each default.
GUNICORN_OPTIONS: tuple[Option, ...] = (
    Option("bind", "GUNICORN_BIND", str, "127.0.0.1:8000",
           "address to listen on (HOST:PORT or unix:PATH); a systemd socket overrides it"),
    Option("workers", "GUNICORN_WORKERS", int, lambda values: 2 * os.cpu_count(),
           "worker processes", "2 x CPU cores"),
    Option("threads", "GUNICORN_THREADS", int, 4, "threads per worker process; 1: sync workers"),
    Option("worker_class", "GUNICORN_WORKER_CLASS", str,
           lambda values: THREADED_WORKER if values["threads"] > 1 else SYNC_WORKER,
           "gunicorn worker class", f"{THREADED_WORKER}, {SYNC_WORKER} when GUNICORN_THREADS=1"),
    Option("timeout", "GUNICORN_TIMEOUT", int, 300,
           "seconds a request may move no byte before its worker is killed as stuck"),
    Option("graceful_timeout", "GUNICORN_GRACEFUL_TIMEOUT", int, 300,
           "seconds a reload or stop lets running requests (a push) finish"),
    Option("max_requests", "GUNICORN_MAX_REQUESTS", int, 2000,
           "requests after which a worker process is replaced (0: never)"),
    Option("max_requests_jitter", "GUNICORN_MAX_REQUESTS_JITTER", int, 200,
           "up to this many more, so workers are not all replaced at once"),
    Option("accesslog", "GUNICORN_ACCESSLOG", str, "-", "access log file ('-': standard output)"),
    Option("loglevel", "GUNICORN_LOGLEVEL", str, "info", "debug, info, warning, error, critical"),
)


# A frozen dataclass with one field per option, named and defaulted by the table.
Settings = make_dataclass(
    "Settings",
    # The type of a field is its default's (a tuple holds strings, a path is a Path).
    [(option.name, Path if isinstance(option.default, Path) else type(option.default),
      field(default=option.default)) for option in OPTIONS],
    bases=(SettingsRules,), frozen=True,
    namespace={"__module__": __name__, "__doc__": "Validated settings of one bzrstore instance."},
)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the config file, then the environment, then ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = environ.get(CONFIG_FILE_ENV)
    if config_file:
        values.update(_read_config_file(Path(config_file)))
    for option in OPTIONS:
        raw = environ.get(option.env)
        if raw is not None:
            values[option.name] = _parse(option, raw)
    values.update(overrides)
    values["data"] = Path(values.get("data", _BY_NAME["data"].default)).absolute()
    return Settings(**values)


def _read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML file whose keys are the option names (``max_body_bytes = 1000``)."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {CONFIG_FILE_ENV} file {path}: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _BY_NAME:
            raise ConfigError(f"unknown setting {key!r} in {path}")
        values[key] = _parse(_BY_NAME[key], value) if isinstance(value, str) else value
    # TOML arrays arrive as lists; the settings hold tuples.
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in values.items()}


def _parse(option: Option, raw: str) -> Any:
    try:
        return option.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{option.env}: {exc}") from exc


def gunicorn_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """gunicorn's settings by its own names: ``GUNICORN_*`` where set, else the defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in GUNICORN_OPTIONS:
        raw = environ.get(option.env)
        if raw is not None:
            values[option.name] = _parse(option, raw)
        else:
            default = option.default
            values[option.name] = default(values) if callable(default) else default
    return values
