"""The admin page, the break-lock action and the push log as JSON."""

from __future__ import annotations

import pytest
from breezy.branch import Branch
from conftest import basic
from webtest import TestApp

from bzrstore import create_app
from bzrstore.auth import hash_password
from bzrstore.branches import BranchTip, Push
from bzrstore.config import load_settings
from bzrstore.storage import create_shared_repository

ADMIN = basic("boss", "secret")


@pytest.fixture
def web(tmp_path, brz) -> TestApp:
    app = create_app(load_settings(environ={}, data=tmp_path / "data"))
    registry = app.extensions["bzrstore"].registry
    for name in ("alpha", "beta"):
        registry.add_codebase(name)
    registry.add_worker("boss", hash_password("secret", rounds=4), admin=True)
    registry.add_worker("worker", hash_password("secret", rounds=4))
    repo = app.extensions["bzrstore"].settings.repos_dir / "alpha"
    create_shared_repository(repo)
    brz.run("init", repo / "c" / "main", "--create-prefix")
    tip = BranchTip("c/main", 3, "rev-3", "A <a@example.com>", 1_700_000_000.0, "third")
    registry.record_push(Push("alpha", "c/main", 2, "rev-2", 3, "rev-3", "worker", 100.0), tip)
    return TestApp(app)


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


def test_break_lock_action(web: TestApp):
    path = web.app.extensions["bzrstore"].settings.repos_dir / "alpha" / "c" / "main"
    branch = Branch.open(str(path))
    branch.lock_write()  # a client that dies holding the lock
    assert branch.get_physical_lock_status()
    result = web.post("/admin/break-lock", {"target": "alpha/c/main"}, headers=ADMIN)
    assert "broke branch lock on alpha/c/main" in result.text
    assert not Branch.open(str(path)).get_physical_lock_status()
    web.post("/admin/break-lock", {"target": "alpha/../x"}, headers=ADMIN, status=400)
    web.post("/admin/break-lock", {"target": "alpha/c/main"},
             headers={**ADMIN, "Origin": "http://evil.example"}, status=403)
    web.post("/admin/break-lock", {"target": "alpha/c/main"}, status=401)


def test_push_log_json(web: TestApp):
    rows = web.get("/api/pushes?codebase=alpha").json
    assert rows == [{"codebase": "alpha", "path": "c/main", "old_revno": 2,
                     "old_revision_id": "rev-2", "new_revno": 3, "new_revision_id": "rev-3",
                     "worker": "worker", "pushed_at": 100.0}]
    assert web.get("/api/pushes?codebase=beta").json == []
    web.get("/api/pushes?limit=0", status=400)
