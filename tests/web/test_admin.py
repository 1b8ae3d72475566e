"""The admin page, the break-lock action and the push log as JSON."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from breezy.branch import Branch
from breezy.controldir import ControlDir
from flask import Flask
from webtest import TestApp

from bzrstore import create_app
from bzrstore.auth import hash_password
from bzrstore.registry.branches import BranchTip, Push
from bzrstore.repos.storage import create_shared_repository
from bzrstore.web import csrf
from helpers import basic, store_of

ADMIN = basic("boss", "secret")


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    """The seeded app, an empty branch ``alpha/c/main`` (as `brz init`) and its push logged."""
    store = store_of(seeded)
    repo = store.settings.repos_dir / "alpha"
    create_shared_repository(repo)
    (repo / "c").mkdir()
    ControlDir.create_branch_convenience(str(repo / "c" / "main"), force_new_tree=False)
    tip = BranchTip("c/main", 3, "rev-3", "A <a@example.com>", 1_700_000_000.0, "third")
    store.registry.record_push(Push("alpha", "c/main", 2, "rev-2", 3, "rev-3", "worker", 100.0),
                               tip)
    return TestApp(seeded)


def test_admins_only(web: TestApp):
    anonymous = web.get("/admin/", status=401)
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="bzrstore"'
    web.get("/admin/", headers=basic("boss", "wrong"), status=401)
    web.get("/admin/", headers=basic("worker", "secret"), status=403)


def test_overview_rows(web: TestApp):
    page = web.get("/admin/", headers=ADMIN).html
    rows = [[td.text for td in tr.select("td")] for tr in page.select("#admin-codebases tbody tr")]
    assert [row[0] for row in rows] == ["alpha", "beta"]
    assert rows[0][2:] == ["1", "1970-01-01 00:01 UTC", "worker"]
    assert rows[0][1] != "0 Bytes" and rows[1][1] == "0 Bytes"
    assert [li.text for li in page.select("#workers li")] == ["boss (admin)", "worker"]
    assert page.select_one("#pushes td code").text == "alpha/c/main"


def form_token(web: TestApp, headers: dict[str, str] = ADMIN) -> str:
    """The break-lock form's token, as the admin page hands it out."""
    return web.get("/admin/", headers=headers).html.select_one("input[name=csrf_token]")["value"]


def locked_branch(web: TestApp) -> Path:
    """The path of alpha/c/main, whose lock a client that died left behind."""
    path = web.app.extensions["bzrstore"].settings.repos_dir / "alpha" / "c" / "main"
    Branch.open(str(path)).lock_write()
    assert Branch.open(str(path)).get_physical_lock_status()
    return path


def test_break_lock_action(web: TestApp):
    path = locked_branch(web)
    form = {"target": "alpha/c/main", "csrf_token": form_token(web)}
    result = web.post("/admin/break-lock", form, headers={**ADMIN, "Origin": "http://localhost"})
    assert "broke branch lock on alpha/c/main" in result.text
    assert not Branch.open(str(path)).get_physical_lock_status()
    web.post("/admin/break-lock", {**form, "target": "alpha/../x"}, headers=ADMIN, status=400)
    web.post("/admin/break-lock", form, status=401)


@pytest.mark.parametrize("origin", [
    "http://localhost.evil.example",  # old code: a prefix of ours was enough
    "http://localhost:8080", "https://localhost", "http://evil.example", "null", "localhost",
])
def test_break_lock_from_another_origin_is_refused(web: TestApp, origin: str):
    path = locked_branch(web)
    form = {"target": "alpha/c/main", "csrf_token": form_token(web)}
    web.post("/admin/break-lock", form, headers={**ADMIN, "Origin": origin}, status=403)
    assert Branch.open(str(path)).get_physical_lock_status()


@pytest.mark.parametrize("token", [None, "", "forged", "WyJicmVhay1sb2NrIiwiYm9zcyJd.x.y"])
def test_break_lock_without_a_good_token_is_refused(web: TestApp, token: str | None):
    # Old code: no Origin and no token broke the lock.
    path = locked_branch(web)
    form = {"target": "alpha/c/main"} | ({} if token is None else {"csrf_token": token})
    web.post("/admin/break-lock", form, headers=ADMIN, status=403)
    web.post("/admin/break-lock", form, headers={**ADMIN, "Origin": "http://localhost"},
             status=403)
    assert Branch.open(str(path)).get_physical_lock_status()


def test_break_lock_token_is_for_one_admin_and_expires(web: TestApp,
                                                      monkeypatch: pytest.MonkeyPatch):
    registry = web.app.extensions["bzrstore"].registry
    registry.add_worker("other", hash_password("secret", rounds=4), admin=True)
    path = locked_branch(web)
    form = {"target": "alpha/c/main", "csrf_token": form_token(web)}
    web.post("/admin/break-lock", form, headers=basic("other", "secret"), status=403)
    monkeypatch.setattr(csrf, "FORM_TOKEN_MAX_AGE_SECONDS", -1)
    web.post("/admin/break-lock", form, headers=ADMIN, status=403)
    assert Branch.open(str(path)).get_physical_lock_status()


def test_form_key_is_shared_through_the_registry(web: TestApp):
    # Another worker process (or node) of the same registry accepts the token.
    token = form_token(web)
    settings = web.app.extensions["bzrstore"].settings
    other = TestApp(create_app(settings))
    locked_branch(web)
    other.post("/admin/break-lock", {"target": "alpha/c/main", "csrf_token": token},
               headers=ADMIN, status=200)


def test_secret_key_setting_signs_forms(web: TestApp, tmp_path: Path):
    settings = web.app.extensions["bzrstore"].settings
    keyed = TestApp(create_app(replace(settings, secret_key="s3cret-key")))
    token = form_token(keyed)
    assert token != form_token(web)
    locked_branch(web)
    form = {"target": "alpha/c/main", "csrf_token": token}
    web.post("/admin/break-lock", form, headers=ADMIN, status=403)
    keyed.post("/admin/break-lock", form, headers=ADMIN, status=200)


def test_push_log_json(web: TestApp):
    rows = web.get("/api/pushes?codebase=alpha").json
    assert rows == [{"codebase": "alpha", "path": "c/main", "old_revno": 2,
                     "old_revision_id": "rev-2", "new_revno": 3, "new_revision_id": "rev-3",
                     "worker": "worker", "pushed_at": 100.0}]
    assert web.get("/api/pushes?codebase=beta").json == []
    web.get("/api/pushes?limit=0", status=400)
