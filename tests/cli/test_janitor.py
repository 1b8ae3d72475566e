"""``janitor-bzr-store``: Janitor's start line and janitor.conf, mapped to bzrstore's settings."""

from __future__ import annotations

import argparse
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from bzrstore.cli import build_parser
from bzrstore.cli.janitor import add_arguments, janitor_environment, main, read_janitor_config
from bzrstore.config import ConfigError, load_settings
from helpers import run_cli, starts_processes
from nginx import free_port
from servers import BIN, Brz, Gunicorn

# The shape of Janitor's janitor.conf.example: every kind of field, nested messages,
# enums, repeated fields and comments; bzrstore reads two of them.
JANITOR_CONF = """\
# Janitor's configuration (protobuf text format)
logs_location: "https://logs.example.org/"
artifact_location: "/srv/janitor/artifacts"
bzr_location: "file:///srv/janitor/vcs/bzr"
git_location: "file:///srv/janitor/vcs/git"
database_location: "postgresql://janitor:secret@db.example.org:5432/janitor"
redis_location: "redis://localhost"
committer: "Janitor Bot <janitor@example.org>"
origin: "janitor.example.org"
user_agent: "Janitor Bot"

bugtracker {
  kind: gitlab
  url: "https://salsa.example.org/janitor/janitor"
  name: "janitor"
}

distribution {
  name: "unstable"
  archive_mirror_uri: "http://deb.debian.org/debian"
  component: "main"
  chroot: "unstable-amd64-sbuild"
  lintian_suppress_tag: "bad-distribution-in-changes-file"
  lintian_suppress_tag: "no-nmu-in-changelog"
  build_command: "sbuild -Asv"
  vendor: "debian"
}

campaign {
  name: "lintian-fixes"
  command: "lintian-brush"
  branch_name: "lintian-fixes"
  merge_proposal { value_threshold: 1 label: "janitor" }
  force_build: false
  debian_build {
    build_distribution: "lintian-fixes"
    build_suffix: "jan+lint"
    base_distribution: "unstable"
  }
  bugtracker { kind: debian url: "https://bugs.debian.org/lintian-brush" name: "lintian-brush" }
}

campaign {
  name: "fresh-releases"
  branch_name: "new-upstream"
  debian_build { build_distribution: "fresh-releases" base_distribution: "unstable" }
}

campaign {
  name: "upstream-unchanged"
  generic_build { chroot: "unstable-amd64-sbuild" }
}

oauth2_provider {
  client_id: "id"
  client_secret: "secret"
  base_url: "https://gitlab.example.org"
}

apt_repository {
  name: "lintian-fixes"
  base: "unstable"
  select { campaign: "lintian-fixes" }
}
"""


def test_reads_database_and_campaigns_and_skips_the_rest():
    config = read_janitor_config(JANITOR_CONF)
    assert config.database_location == "postgresql://janitor:secret@db.example.org:5432/janitor"
    assert config.campaigns == ("lintian-fixes", "fresh-releases", "upstream-unchanged")


def test_empty_config():
    config = read_janitor_config("")
    assert config.database_location == "" and config.campaigns == ()


@pytest.mark.parametrize("text", ['database_location: 5', "campaign { name: ", "}{"])
def test_malformed_config_is_a_config_error(text):
    with pytest.raises(ConfigError, match="janitor config"):
        read_janitor_config(text)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def write_config(tmp_path: Path, text: str = JANITOR_CONF) -> Path:
    path = tmp_path / "janitor.conf"
    path.write_text(text)
    return path


def test_flags_as_janitors_dockerfile_passes_them(tmp_path: Path):
    vcs = tmp_path / "bzr"
    vcs.mkdir()
    args = parse("--port=9929", "--listen-address=0.0.0.0", f"--vcs-path={vcs}",
                 "--config", str(write_config(tmp_path)))
    env = janitor_environment(args)
    assert env == {
        "BZRSTORE_REPOS": str(vcs),
        "BZRSTORE_INTERNAL_BIND": "0.0.0.0:9929",
        "GUNICORN_BIND": "0.0.0.0:9930",
        "BZRSTORE_DATABASE_URL": "postgresql://janitor:secret@db.example.org:5432/janitor",
        "BZRSTORE_CAMPAIGNS": "lintian-fixes,fresh-releases,upstream-unchanged,debian",
        "BZRSTORE_MAX_BODY_BYTES": str(1024**3),
    }
    settings = load_settings(env)
    assert settings.repos_dir == vcs
    assert "debian" in settings.campaigns  # the worker's debian/latest cache branch


def test_every_other_janitor_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vcs").mkdir()
    (tmp_path / "janitor.conf").write_text("")  # the default --config, in the current dir
    env = janitor_environment(parse(
        "--listen-address", "::1", "--port", "1", "--public-port", "2", "--vcs-path", "vcs",
        "--client-max-size", "0", "--debug", "--gcp-logging", "--prometheus", "http://gw"))
    assert env == {
        "BZRSTORE_REPOS": str(tmp_path / "vcs"),  # absolute: gunicorn may change directory
        "BZRSTORE_INTERNAL_BIND": "[::1]:1", "GUNICORN_BIND": "[::1]:2",
        "BZRSTORE_DATABASE_URL": "", "BZRSTORE_CAMPAIGNS": "",  # SQLite; any campaign
        "GUNICORN_LOGLEVEL": "debug",
    }


def test_defaults_are_janitors(tmp_path: Path):
    args = parse()
    assert (args.listen_address, args.port, args.public_port, args.config) == (
        "localhost", 9929, 9930, "janitor.conf")


@pytest.mark.parametrize(("argv", "message"), [
    ((), "--vcs-path is required"),
    (("--vcs-path", "/nonexistent/bzr"), "does not exist"),
    (("--vcs-path", "."), "cannot read"),
])
def test_refused_start_lines(argv, message, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--config", "missing.conf", *argv]) == 1
    assert message in capsys.readouterr().err


def test_bad_database_location_fails_before_gunicorn(tmp_path: Path, capsys):
    vcs = tmp_path / "vcs"
    vcs.mkdir()
    config = write_config(tmp_path, 'database_location: "mysql://db/janitor"')
    assert main(["--vcs-path", str(vcs), "--config", str(config)]) == 1
    assert "postgresql://" in capsys.readouterr().err


def test_bzrstore_janitor_serve_takes_the_same_flags():
    args = build_parser().parse_args(["janitor-serve", "--port=9929", "--vcs-path=/bzr"])
    assert (args.port, args.public_port, args.vcs_path) == (9929, 9930, "/bzr")


@pytest.fixture
@starts_processes
def janitor_store(tmp_path: Path):
    """``janitor-bzr-store`` started as Janitor's store is, on two free ports."""
    vcs, data = tmp_path / "vcs", tmp_path / "data"
    vcs.mkdir()
    # Campaigns from janitor.conf; SQLite (no database_location) so the test needs no server.
    config = write_config(tmp_path, 'campaign { name: "lintian-fixes" }\n')
    env = {**os.environ, "BZRSTORE_DATA": str(data), "BZRSTORE_DATABASE_URL": "",
           "GUNICORN_WORKERS": "2"}
    run_cli(env, "codebase", "add", "alpha")
    internal, public = free_port(), free_port()
    command = [str(BIN / "janitor-bzr-store"), "--port", str(internal), "--public-port",
               str(public), "--listen-address", "127.0.0.1", "--config", str(config),
               "--vcs-path", str(vcs)]
    server = Gunicorn(env, tmp_path / "gunicorn.log", command=command).start()
    try:
        yield server, internal, vcs
    finally:
        server.stop()


def test_janitor_start_line_serves_an_anonymous_worker_push(janitor_store, brz: Brz,
                                                            tmp_path: Path):
    server, internal, vcs = janitor_store
    work = tmp_path / "work"
    revisions = brz.make_branch(work, revisions=2)
    brz.run("push", "-d", work, f"bzr+http://127.0.0.1:{internal}/alpha/lintian-fixes/main")
    assert (vcs / "alpha" / "lintian-fixes" / "main" / ".bzr" / "branch").is_dir()
    assert brz.revision_ids(f"{server.url}/bzr/alpha/lintian-fixes/main") == revisions
    with urllib.request.urlopen(f"{server.url}/repositories") as response:
        assert b"alpha" in response.read()
    # The same push to the public port needs credentials; a campaign not configured is 403.
    refused = brz.run("push", "-d", work, f"bzr+http://{server.url[7:]}/alpha/lintian-fixes/x",
                      check=False)
    assert refused.returncode != 0
    other = brz.run("push", "-d", work, f"bzr+http://127.0.0.1:{internal}/alpha/other/main",
                    check=False)
    assert other.returncode != 0 and not (vcs / "alpha" / "other").exists()


def test_janitor_bzr_store_help():
    result = subprocess.run([str(BIN / "janitor-bzr-store"), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "--public-port" in result.stdout and "--vcs-path" in result.stdout
