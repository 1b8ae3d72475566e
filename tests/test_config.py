"""Settings: defaults, the environment, the TOML file, refusals, --help and gunicorn.conf.py."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bzrstore
from bzrstore import cli
from bzrstore.config import (
    CONFIG_FILE_ENV,
    GUNICORN_OPTIONS,
    OPTIONS,
    ConfigError,
    Settings,
    gunicorn_settings,
    load_settings,
)

GUNICORN_CONF = Path(bzrstore.__file__).parent / "gunicorn.conf.py"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BZRSTORE_* or GUNICORN_* setting of the caller's environment leaks into a test."""
    for option in (*OPTIONS, *GUNICORN_OPTIONS):
        monkeypatch.delenv(option.env, raising=False)
    monkeypatch.delenv(CONFIG_FILE_ENV, raising=False)


# --- bzrstore's settings ---------------------------------------------------------------


def test_settings_is_the_table():
    assert dataclasses.is_dataclass(Settings)
    assert [f.name for f in dataclasses.fields(Settings)] == [o.name for o in OPTIONS]
    assert {f.name: f.default for f in dataclasses.fields(Settings)} == {
        o.name: o.default for o in OPTIONS}
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().max_body_bytes = 1


def test_defaults():
    settings = load_settings(environ={})
    assert settings == dataclasses.replace(Settings(), data=Path("data").absolute())
    assert settings.max_body_bytes == 1024**3
    assert settings.max_anonymous_body_bytes == 4 * 1024**2
    assert settings.diff_max_bytes == 200 * 1024**2
    assert (settings.campaigns, settings.trusted_proxies) == ((), ())
    assert settings.dev_server is False
    assert settings.repos_dir == Path("data").absolute() / "repos"
    assert settings.sqlite_path == Path("data").absolute() / "bzrstore.sqlite3"
    assert settings.run_dir == Path("data").absolute() / "run"


def test_derived_values(tmp_path: Path):
    settings = load_settings(environ={}, data=tmp_path, runtime_dir=tmp_path / "rt",
                             max_body_bytes=1000)
    assert settings.run_dir == tmp_path / "rt"
    assert settings.anonymous_body_bytes == 1000  # never above the general limit


@pytest.mark.parametrize(("env", "value", "name", "expected"), [
    ("BZRSTORE_DATA", "somewhere", "data", Path("somewhere").absolute()),
    ("BZRSTORE_DATABASE_URL", "postgresql://db/x", "database_url", "postgresql://db/x"),
    ("BZRSTORE_MAX_BODY_BYTES", "1000", "max_body_bytes", 1000),
    ("BZRSTORE_CAMPAIGNS", " main, lintian-fixes ,,", "campaigns", ("main", "lintian-fixes")),
    ("BZRSTORE_AUTH_CACHE_SECONDS", "2.5", "auth_cache_seconds", 2.5),
    ("BZRSTORE_TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8", "trusted_proxies",
     ("127.0.0.1", "10.0.0.0/8")),
    ("BZRSTORE_DIFF_TIMEOUT_SECONDS", "2.5", "diff_timeout_seconds", 2.5),
    ("BZRSTORE_RUNTIME_DIR", "/run/bzrstore", "runtime_dir", Path("/run/bzrstore")),
    ("BZRSTORE_PUBLIC_URL", "https://example.org/bzr", "public_url", "https://example.org/bzr"),
    ("BZRSTORE_DEV_SERVER", "yes", "dev_server", True),
    ("BZRSTORE_DEV_SERVER", "Off", "dev_server", False),
    ("BZRSTORE_DEV_SERVER", "", "dev_server", False),
])
def test_environment_is_parsed(env: str, value: str, name: str, expected: object):
    assert getattr(load_settings(environ={env: value}), name) == expected


def test_os_environ_is_the_default_source(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BZRSTORE_DB_POOL_SIZE", "7")
    assert load_settings().db_pool_size == 7


def test_config_file_then_environment_then_overrides(tmp_path: Path):
    config = tmp_path / "bzrstore.toml"
    config.write_text('max_body_bytes = 1000\ncampaigns = ["main", "fresh"]\n'
                      'trusted_proxies = "127.0.0.1, ::1"\ndb_pool_size = 3\n'
                      'diff_max_bytes = 5000\n')
    environ = {CONFIG_FILE_ENV: str(config), "BZRSTORE_DB_POOL_SIZE": "5"}
    settings = load_settings(environ=environ, diff_max_bytes=6000)
    assert settings.max_body_bytes == 1000
    assert settings.campaigns == ("main", "fresh")  # a TOML array: a tuple
    assert settings.trusted_proxies == ("127.0.0.1", "::1")  # a string: parsed as in the env
    assert settings.db_pool_size == 5  # the environment wins over the file
    assert settings.diff_max_bytes == 6000  # and arguments over both


@pytest.mark.parametrize(("content", "message"), [
    ("no_such_setting = 1\n", "unknown setting 'no_such_setting'"),
    ("max_body_bytes = \n", "cannot read BZRSTORE_CONFIG file"),
    ('db_pool_size = "lots"\n', "BZRSTORE_DB_POOL_SIZE"),
])
def test_bad_config_file_is_refused(tmp_path: Path, content: str, message: str):
    config = tmp_path / "bzrstore.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={CONFIG_FILE_ENV: str(config)})


def test_missing_config_file_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read BZRSTORE_CONFIG file"):
        load_settings(environ={CONFIG_FILE_ENV: str(tmp_path / "absent.toml")})


@pytest.mark.parametrize(("env", "value", "message"), [
    ("BZRSTORE_MAX_BODY_BYTES", "lots", "BZRSTORE_MAX_BODY_BYTES"),
    ("BZRSTORE_MAX_BODY_BYTES", "0", "BZRSTORE_MAX_BODY_BYTES must be positive"),
    ("BZRSTORE_SMART_APP_CACHE_SIZE", "1", "at least 2"),
    ("BZRSTORE_DB_POOL_SIZE", "0", "BZRSTORE_DB_POOL_SIZE must be at least 1"),
    ("BZRSTORE_AUTH_CACHE_SECONDS", "-1", "cache durations must not be negative"),
    ("BZRSTORE_CODEBASE_CACHE_SECONDS", "-1", "cache durations must not be negative"),
    ("BZRSTORE_TRUSTED_PROXIES", "not-an-address", "BZRSTORE_TRUSTED_PROXIES"),
    ("BZRSTORE_DIFF_TIMEOUT_SECONDS", "0", "BZRSTORE_DIFF_TIMEOUT_SECONDS"),
    ("BZRSTORE_DIFF_MAX_BYTES", "0", "BZRSTORE_DIFF_MAX_BYTES"),
    ("BZRSTORE_MAX_ANONYMOUS_BODY_BYTES", "0", "BZRSTORE_MAX_ANONYMOUS_BODY_BYTES"),
    ("BZRSTORE_CLIENT_IDLE_SECONDS", "0", "BZRSTORE_CLIENT_IDLE_SECONDS"),
    ("BZRSTORE_DIFF_MAX_FILE_BYTES", "0", "BZRSTORE_DIFF_MAX_FILE_BYTES"),
    ("BZRSTORE_AUTH_MAX_FAILURES", "0", "BZRSTORE_AUTH_MAX_FAILURES"),
    ("BZRSTORE_AUTH_FAILURE_WINDOW_SECONDS", "0", "BZRSTORE_AUTH_FAILURE_WINDOW_SECONDS"),
    ("BZRSTORE_PUBLIC_URL", "example.org", "BZRSTORE_PUBLIC_URL must be an http"),
    ("BZRSTORE_DATABASE_URL", "mysql://db", "BZRSTORE_DATABASE_URL must be a postgresql"),
    ("BZRSTORE_DEV_SERVER", "maybe", "BZRSTORE_DEV_SERVER: not a boolean"),
])
def test_invalid_values_are_refused(env: str, value: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={env: value})


# --- --help ------------------------------------------------------------------------------


def test_help_lists_every_setting_and_gunicorn_variable(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert CONFIG_FILE_ENV in out
    for option in (*OPTIONS, *GUNICORN_OPTIONS):
        assert f"  {option.env} (default: " in out
    assert "BZRSTORE_MAX_BODY_BYTES (default: 1073741824)" in out
    assert "GUNICORN_THREADS (default: 4)" in out
    assert "GUNICORN_WORKERS (default: 2 x CPU cores)" in out


# --- gunicorn ------------------------------------------------------------------------------


def test_gunicorn_defaults():
    assert gunicorn_settings(environ={}) == {
        "bind": "127.0.0.1:8000", "workers": 2 * multiprocessing.cpu_count(), "threads": 4,
        "worker_class": "bzrstore.node.workers.IdleLimitedThreads", "timeout": 300,
        "graceful_timeout": 300, "max_requests": 2000, "max_requests_jitter": 200,
        "accesslog": "-", "loglevel": "info",
    }


def test_one_gunicorn_thread_means_sync_workers():
    assert gunicorn_settings(environ={"GUNICORN_THREADS": "1"})["worker_class"] == (
        "bzrstore.node.workers.IdleLimitedSync")
    chosen = gunicorn_settings(environ={"GUNICORN_THREADS": "1", "GUNICORN_WORKER_CLASS": "x"})
    assert chosen["worker_class"] == "x"


def test_bad_gunicorn_value_is_refused():
    with pytest.raises(ConfigError, match="GUNICORN_WORKERS"):
        gunicorn_settings(environ={"GUNICORN_WORKERS": "many"})


def gunicorn_conf(tmp_path: Path, **env: str) -> dict[str, object]:
    """The settings gunicorn would take from gunicorn.conf.py under ``env`` (own process)."""
    names = [o.name for o in GUNICORN_OPTIONS] + ["keepalive", "preload_app",
                                                   "forwarded_allow_ips", "wsgi_app"]
    script = ("import json, runpy, sys; conf = runpy.run_path(sys.argv[1]);"
              f" print(json.dumps({{k: conf[k] for k in {names!r}}}))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "BZRSTORE_"))}
    # An operator's own metrics directory, so the file leaves no temporary one behind.
    clean["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", script, str(GUNICORN_CONF)],
                            env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.e2e  # runs gunicorn.conf.py in a Python subprocess
def test_gunicorn_conf_defaults(tmp_path: Path):
    conf = gunicorn_conf(tmp_path)
    assert conf == {**gunicorn_settings(environ={}), "keepalive": 0, "preload_app": False,
                    "forwarded_allow_ips": "", "wsgi_app": "bzrstore:create_app()"}


@pytest.mark.e2e  # runs gunicorn.conf.py in a Python subprocess
def test_gunicorn_conf_honours_every_variable(tmp_path: Path):
    env = {"GUNICORN_BIND": "unix:/run/x.sock", "GUNICORN_WORKERS": "3",
           "GUNICORN_THREADS": "1", "GUNICORN_TIMEOUT": "60", "GUNICORN_GRACEFUL_TIMEOUT": "61",
           "GUNICORN_MAX_REQUESTS": "0", "GUNICORN_MAX_REQUESTS_JITTER": "5",
           "GUNICORN_ACCESSLOG": "/tmp/access.log", "GUNICORN_LOGLEVEL": "debug"}
    conf = gunicorn_conf(tmp_path, **env)
    assert conf["worker_class"] == "bzrstore.node.workers.IdleLimitedSync"
    assert {o.env: conf[o.name] for o in GUNICORN_OPTIONS if o.env in env} == {
        key: int(value) if value.isdigit() else value for key, value in env.items()}
    chosen = gunicorn_conf(tmp_path, GUNICORN_WORKER_CLASS="gthread")
    assert chosen["worker_class"] == "gthread"


def test_gunicorn_conf_reads_no_variable_outside_the_table():
    named = set(re.findall(r"\bGUNICORN_[A-Z]+[A-Z_]*", GUNICORN_CONF.read_text()))
    assert named - {"GUNICORN_OPTIONS"} <= {o.env for o in GUNICORN_OPTIONS}
    assert "os.environ.get" not in GUNICORN_CONF.read_text()  # every value comes through it
