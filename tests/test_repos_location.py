"""BZRSTORE_REPOS: the repositories anywhere (Janitor's --vcs-path), <data>/repos by default."""

from __future__ import annotations

from pathlib import Path

from webtest import TestApp

from bzrstore.config import load_settings
from helpers import WORKER, basic, make_app, seed, store_of
from smartwire import request_v3


def test_default_is_data_repos(tmp_path: Path):
    assert load_settings({}, data=tmp_path).repos_dir == tmp_path / "repos"
    assert load_settings({"BZRSTORE_REPOS": ""}, data=tmp_path).repos_dir == tmp_path / "repos"


def test_relative_path_is_made_absolute(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings({"BZRSTORE_REPOS": "vcs"}).repos_dir == tmp_path / "vcs"


def test_the_store_serves_from_there(tmp_path: Path):
    vcs = tmp_path / "vcs"
    app = seed(make_app(tmp_path / "data", repos=vcs))
    assert store_of(app).storage.codebase_dir("alpha").parent == vcs
    response = TestApp(app).post(
        "/bzr/alpha/.bzr/smart", request_v3(b"mkdir", b"newdir", b""),
        headers={"Content-Type": "application/octet-stream", **basic(*WORKER)})
    assert response.status_int == 200
    assert (vcs / "alpha" / "newdir").is_dir()
    assert not (tmp_path / "data" / "repos" / "alpha").exists()
