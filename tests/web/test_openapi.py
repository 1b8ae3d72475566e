"""/openapi.json: a valid document, and every documented route answers as documented."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from webtest import TestApp

from bzrstore.auth import hash_password
from bzrstore.page_budget import OverBudget
from bzrstore.registry.branches import BranchTip, Push
from bzrstore.repos.storage import create_shared_repository
from helpers import basic, make_app, make_branch, push_branch, store_of

ADMIN = basic("boss", "secret")
WORKER = basic("worker", "secret")
URL = "https://salsa.debian.org/debian/alpha.git"
# Stands for the first and the last revision id of alpha's branch c/main.
FIRST, LAST = "@first", "@last"


@dataclass(frozen=True)
class Case:
    """One request to a documented operation and the status it must get."""

    method: str
    template: str
    status: int
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    storage_gone: bool = False
    over_budget: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.template} {self.status} {self.query or ''}"


LISTING = [Case("get", t, 200, query=q, headers={"Accept": a})
           for t in ("/", "/bzr/")
           for q, a in (({}, "text/html"), ({"q": "alp"}, "application/json"),
                        ({"page": "2"}, "text/plain"), ({}, "*/*"))]
REVS = {"old": FIRST, "new": LAST}
JSON = {"Accept": "application/json"}
PNG = {"Accept": "image/png"}
MAIN = {"branch": "alpha/c/main"}
BROWSE_CASES = [
    *[Case("get", "/bzr/{branch}/-/changes", 200, MAIN, headers=h) for h in ({}, JSON)],
    Case("get", "/bzr/{branch}/-/changes", 400, MAIN, {"page": "0"}),
    Case("get", "/bzr/{branch}/-/changes", 404, {"branch": "alpha/c/none"}, headers=JSON),
    Case("get", "/bzr/{branch}/-/changes", 406, MAIN, headers=PNG),
    *[Case("get", "/bzr/{branch}/-/revision/{revision}", 200, {**MAIN, "revision": r},
           headers=h) for r, h in (("1", {}), ("2", JSON))],
    Case("get", "/bzr/{branch}/-/revision/{revision}", 400, {**MAIN, "revision": "1"},
         {"view": "x"}),
    Case("get", "/bzr/{branch}/-/revision/{revision}", 404, {**MAIN, "revision": "9"}),
    Case("get", "/bzr/{branch}/-/revision/{revision}", 406, {**MAIN, "revision": "1"},
         headers=PNG),
    *[Case("get", "/bzr/{branch}/-/compare/{revisions}", 200, {**MAIN, "revisions": "1..2"},
           {"view": "sbs"}, headers=h) for h in ({}, JSON)],
    Case("get", "/bzr/{branch}/-/compare/{revisions}", 400, {**MAIN, "revisions": "1"}),
    Case("get", "/bzr/{branch}/-/compare/{revisions}", 404, {**MAIN, "revisions": "1..9"}),
    Case("get", "/bzr/{branch}/-/compare/{revisions}", 406, {**MAIN, "revisions": "1..2"},
         headers=PNG),
    *[Case("get", "/bzr/{branch}/-/atom", 200, MAIN, headers=h) for h in ({}, JSON)],
    Case("get", "/bzr/{branch}/-/atom", 400, {"branch": "alpha/c/main/x"}),
    Case("get", "/bzr/{branch}/-/atom", 404, {"branch": "beta"}),
    Case("get", "/bzr/{branch}/-/atom", 406, MAIN, headers={"Accept": "text/html"}),
]
BRANCH = {"branch": "alpha/c/main"}
JSON_TYPE = "application/json"
FILE_CASES = [  # the file views (web/files.py)
    *[Case("get", "/bzr/{branch}/-/files", 200, BRANCH, q, headers={"Accept": a})
      for q, a in (({}, "text/html"), ({"rev": LAST}, "application/json"))],
    Case("get", "/bzr/{branch}/-/files", 400, BRANCH, {"rev": "a\nb"}),
    Case("get", "/bzr/{branch}/-/files", 404, {"branch": "alpha/none"},
         headers={"Accept": "application/json"}),
    Case("get", "/bzr/{branch}/-/files", 406, BRANCH, headers={"Accept": "image/png"}),
    *[Case("get", f"/bzr/{{branch}}/-/{view}/{{path}}", status, {**BRANCH, "path": path},
           {"rev": "1"}, headers={"Accept": accept})
      for view, present in (("files", "dir"), ("file", "dir/file.txt"),
                            ("annotate", "dir/file.txt"))
      for status, path, accept in ((200, present, "text/html"), (200, present, JSON_TYPE),
                                   (400, "..%2Fx", JSON_TYPE), (404, "nosuch", JSON_TYPE),
                                   (406, present, "image/png"))],
    *[Case("get", "/bzr/{branch}/-/raw/{path}", status, {**BRANCH, "path": path})
      for status, path in ((200, "f0.txt"), (400, "..%2Fx"), (404, "dir"))],
    *[Case("get", "/bzr/{branch}/-/tarball", status, BRANCH, {"rev": rev})
      for status, rev in ((200, FIRST), (400, ""), (404, "9"))],
]
OVER_BUDGET_CASES = [  # the pages web/budget.py guards, asked for by a client over budget
    Case("get", "/bzr/{branch}/-/changes", 429, MAIN, {"page": "11"}, over_budget=True),
    Case("get", "/bzr/{branch}/-/compare/{revisions}", 429, {**MAIN, "revisions": "1..2"},
         over_budget=True),
    Case("get", "/bzr/{branch}/-/annotate/{path}", 429, {**MAIN, "path": "dir/file.txt"},
         over_budget=True),
    Case("get", "/bzr/{branch}/-/tarball", 429, MAIN, over_budget=True),
]
CASES = [
    *LISTING,
    *OVER_BUDGET_CASES,
    *[Case("get", t, 400, query={"page": "0"}) for t in ("/", "/bzr/")],
    *[Case("get", t, 406, headers={"Accept": "image/png"}) for t in ("/", "/bzr/")],
    *[Case("get", "/bzr/{codebase}/", 200, {"codebase": "alpha"}, headers={"Accept": a})
      for a in ("text/html", "application/json", "text/plain")],
    Case("get", "/bzr/{codebase}/", 400, {"codebase": ".hidden"}),
    Case("get", "/bzr/{codebase}/", 404, {"codebase": "nosuch"},
         headers={"Accept": "application/json"}),
    Case("get", "/bzr/{codebase}/", 406, {"codebase": "alpha"}, headers={"Accept": "image/png"}),
    Case("get", "/repositories", 200),
    Case("get", "/{codebase}/diff", 200, {"codebase": "alpha"}, REVS),
    Case("get", "/{codebase}/diff", 200, {"codebase": "alpha"}, {**REVS, "path": "dir"}),
    Case("get", "/{codebase}/diff", 400, {"codebase": "alpha"}, {"old": FIRST}),
    Case("get", "/{codebase}/diff", 404, {"codebase": "alpha"}, {"old": FIRST, "new": "no-rev"}),
    Case("get", "/{codebase}/diff", 404, {"codebase": "alpha"}, {**REVS, "path": "nofile"}),
    Case("get", "/{codebase}/revision-info", 200, {"codebase": "alpha"}, REVS),
    Case("get", "/{codebase}/revision-info", 400, {"codebase": "alpha"}, {"new": LAST}),
    Case("get", "/{codebase}/revision-info", 404, {"codebase": "nosuch"}, REVS),
    *[Case("post", "/{codebase}/remotes/{remote}", status, {"codebase": cb, "remote": "upstream"},
           form={"url": url}, headers=headers)
      for status, cb, url, headers in ((200, "alpha", URL, WORKER), (400, "alpha", "/etc", WORKER),
                                       (401, "alpha", URL, {}), (404, "nosuch", URL, WORKER),
                                       (403, "alpha", URL,
                                        {**WORKER, "Origin": "http://evil.example"}))],
    *[Case("get", "/bzr/{branch}/.bzr/{file}", status, {"branch": "alpha/c/main", "file": name})
      for status, name in ((200, "branch-format"), (404, "branch/lock/held/info"))],
    Case("get", "/robots.txt", 200),
    Case("get", "/api/pushes", 200, query={"codebase": "alpha", "limit": "5"}),
    Case("get", "/api/pushes", 400, query={"limit": "100000"}),
    Case("get", "/admin/", 200, query={"q": "a"}, headers=ADMIN),
    Case("get", "/admin/", 400, query={"page": "x"}, headers=ADMIN),
    Case("get", "/admin/", 401),
    Case("get", "/admin/", 403, headers=WORKER),
    Case("post", "/admin/break-lock", 200, form={"target": "alpha/c/main"}, headers=ADMIN),
    Case("post", "/admin/break-lock", 400, form={"target": "alpha/none"}, headers=ADMIN),
    Case("post", "/admin/break-lock", 401, form={"target": "alpha/c/main"}),
    Case("post", "/admin/break-lock", 403, form={"target": "alpha/c/main"}, headers=WORKER),
    *BROWSE_CASES,
    Case("get", "/health", 200),
    Case("get", "/ready", 200),
    Case("get", "/ready", 503, storage_gone=True),
    Case("get", "/metrics", 200),
    Case("get", "/openapi.json", 200),
    *FILE_CASES,
]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> TestApp:
    """Codebase alpha with branches c/main and upstream (two revisions), an admin, a push."""
    app = make_app(tmp_path_factory.mktemp("api") / "data")
    store = store_of(app)
    store.registry.add_codebase("alpha")
    store.registry.add_worker("boss", hash_password("secret", rounds=4), admin=True)
    store.registry.add_worker("worker", hash_password("secret", rounds=4))
    repo = store.settings.repos_dir / "alpha"
    create_shared_repository(repo)
    work, revids = make_branch(tmp_path_factory.mktemp("work") / "main", revisions=2)
    for branch in ("c/main", "upstream"):
        push_branch(work.branch, repo / branch)
    app.config["revids"] = {FIRST: revids[0], LAST: revids[-1]}
    tip = BranchTip("c/main", 2, revids[-1], "A <a@example.com>", 1_700_000_000.0, "second")
    store.registry.record_push(Push("alpha", "c/main", 1, revids[0], 2, revids[-1], "worker",
                                    100.0), tip)
    return TestApp(app)


@pytest.fixture(scope="module")
def document(web: TestApp) -> dict[str, Any]:
    """The served document, validated against the OpenAPI 3.1 schema."""
    document = web.get("/openapi.json").json
    validate(document)
    return document


def fill(template: str, values: dict[str, str]) -> str:
    """``template`` with its ``{name}`` parameters replaced."""
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def request(web: TestApp, case: Case) -> Any:
    """Make the request ``case`` describes and return the response, whatever its status."""
    revids = web.app.config["revids"]
    query = {key: revids.get(value, value) for key, value in case.query.items()}
    if case.method == "get":
        return web.get(fill(case.template, case.path), query, headers=case.headers,
                       expect_errors=True)
    form = case.form
    if case.template == "/admin/break-lock":  # the token the admin page hands out
        page = web.get("/admin/", headers=ADMIN).html
        form = {**form, "csrf_token": page.select_one("input[name=csrf_token]")["value"]}
    return web.post(fill(case.template, case.path), form, headers=case.headers,
                    expect_errors=True)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_route_answers_as_documented(web: TestApp, document: dict[str, Any], case: Case,
                                     tmp_path: Path):
    store = web.app.extensions["bzrstore"]
    repos = store.settings.repos_dir
    if case.storage_gone:
        repos.rename(tmp_path / "repos")
    if case.over_budget:  # the module's app has no budget: one of a unit, spent
        store.page_budget.units = 1
        with contextlib.suppress(OverBudget):
            store.page_budget.spend("", "annotate")
    try:
        response = request(web, case)
    finally:
        store.page_budget.units = 0
        if case.storage_gone:
            (tmp_path / "repos").rename(repos)
    assert response.status_int == case.status, response.text
    if case.over_budget:
        assert int(response.headers["Retry-After"]) > 0
    documented = document["paths"][case.template][case.method]["responses"][str(case.status)]
    assert response.content_type in documented["content"]
    for name, header in documented.get("headers", {}).items():
        # Optional ones (the listing's Link, absent from its text form) are checked
        # where they are made (test_listings.py).
        assert name in response.headers or not header.get("required")
    schema = documented["content"][response.content_type].get("schema")
    if schema is not None:
        jsonschema.validate(response.json, {**schema, "components": document["components"]})


def test_every_documented_answer_is_tried(document: dict[str, Any]):
    documented = {(path, method, int(status))
                  for path, operations in document["paths"].items()
                  for method, operation in operations.items()
                  for status in operation["responses"]}
    assert documented == {(case.template, case.method, case.status) for case in CASES}


def test_every_route_is_documented(web: TestApp, document: dict[str, Any]):
    def shape(path: str) -> str:
        return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)

    routes = {(shape(rule.rule), method.lower()) for rule in web.app.url_map.iter_rules()
              if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == {(shape(path), method) for path, operations in document["paths"].items()
                      for method in operations}


def test_schema_checks_can_fail(document: dict[str, Any]):
    schema = {**document["components"]["schemas"]["RevisionInfo"],
              "components": document["components"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"revision-id": "r", "message": "m", "link": None}, schema)
