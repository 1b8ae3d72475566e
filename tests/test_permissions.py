"""Who may do what: anonymous, worker and admin against every route, method and smart verb.

One row per Flask rule; a rule added without a row fails ``test_every_route_has_a_row``.
Each row lists every method the rule answers and one it does not (405).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from webtest import TestApp

from helpers import ADMIN, WORKER, basic, make_app, make_branch, push_branch, seed, store_of
from smartwire import request_v3

USERS = {"anonymous": {}, "worker": basic(*WORKER), "admin": basic(*ADMIN)}
# Statuses for (anonymous, worker, admin).
EVERYONE = (200, 200, 200)
WORKERS = (401, 200, 200)
ADMINS = (401, 403, 200)
NOT_ALLOWED = (405, 405, 405)
READ = {"GET": EVERYONE, "HEAD": EVERYONE, "OPTIONS": EVERYONE, "POST": NOT_ALLOWED}


@dataclass(frozen=True)
class Row:
    """A URL one rule matches, the status each user gets for each method, a form to post."""

    url: str
    methods: dict[str, tuple[int, int, int]]
    form: dict[str, str] = field(default_factory=dict)


TABLE: dict[str, Row] = {
    "/health": Row("/health", READ),
    "/ready": Row("/ready", READ),
    "/metrics": Row("/metrics", READ),
    "/openapi.json": Row("/openapi.json", READ),
    "/robots.txt": Row("/robots.txt", READ),
    "/static/<path:filename>": Row("/static/style.css", READ),
    "/": Row("/", READ),
    "/bzr/": Row("/bzr/", READ),
    "/bzr/<codebase>/": Row("/bzr/alpha/", READ),
    "/repositories": Row("/repositories", READ),
    "/api/pushes": Row("/api/pushes", READ),
    "/bzr/<path:location>/.bzr/<path:name>": Row("/bzr/alpha/.bzr/branch-format", READ),
    "/<codebase>/diff": Row("/alpha/diff?old=null:&new=null:", READ),
    "/<codebase>/revision-info": Row("/alpha/revision-info?old=null:&new=null:", READ),
    "/<codebase>/remotes/<remote>": Row(
        "/alpha/remotes/upstream", {"POST": WORKERS, "OPTIONS": EVERYONE, "GET": NOT_ALLOWED},
        form={"url": "https://example.org/alpha"}),
    "/bzr/<path:location>/-/changes": Row("/bzr/alpha/upstream/-/changes", READ),
    "/bzr/<path:location>/-/revision/<path:spec>": Row("/bzr/alpha/upstream/-/revision/2",
                                                        READ),
    "/bzr/<path:location>/-/compare/<path:spec>": Row("/bzr/alpha/upstream/-/compare/1..2",
                                                       READ),
    "/bzr/<path:location>/-/atom": Row("/bzr/alpha/upstream/-/atom", READ),
    "/admin/": Row("/admin/", {"GET": ADMINS, "HEAD": ADMINS, "OPTIONS": EVERYONE,
                               "POST": NOT_ALLOWED}),
    "/admin/break-lock": Row("/admin/break-lock", {"POST": ADMINS, "OPTIONS": EVERYONE,
                                                   "GET": NOT_ALLOWED},
                             form={"target": "alpha"}),
    # The file views (web/files.py).
    "/bzr/<path:location>/-/files": Row("/bzr/alpha/upstream/-/files", READ),
    "/bzr/<path:location>/-/files/<path:path>": Row("/bzr/alpha/upstream/-/files/dir", READ),
    "/bzr/<path:location>/-/file/<path:path>": Row("/bzr/alpha/upstream/-/file/f0.txt", READ),
    "/bzr/<path:location>/-/annotate/<path:path>": Row(
        "/bzr/alpha/upstream/-/annotate/f0.txt", READ),
    "/bzr/<path:location>/-/raw/<path:path>": Row("/bzr/alpha/upstream/-/raw/f0.txt", READ),
    "/bzr/<path:location>/-/tarball": Row("/bzr/alpha/upstream/-/tarball", READ),
}

SMART_URL = "/bzr/alpha/.bzr/smart"
# verb -> (its arguments, statuses). A write without credentials is a 401 (the challenge
# brz answers with credentials); reads need none. ``{user}`` is the user's own directory.
SMART: dict[bytes, tuple[tuple[bytes, ...], tuple[int, int, int]]] = {
    b"hello": ((), EVERYONE),
    b"BzrDir.open_2.1": ((b"",), EVERYONE),
    b"BzrDirFormat.initialize_ex_1.16": (
        (b"Bazaar-NG meta directory, format 1\n", b"perm/{user}", b"False", b"True",
         b"False", b"", b"", b"", b"False", b"False"), WORKERS),
}


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> TestApp:
    """The seeded app, with codebase ``alpha``'s repository and its branch ``upstream``."""
    app = seed(make_app(tmp_path_factory.mktemp("perm") / "data"))
    root = store_of(app).storage.ensure_repository("alpha")
    work, _ = make_branch(tmp_path_factory.mktemp("perm-work") / "work", revisions=2)
    push_branch(work.branch, root / "upstream")  # a revision or two to browse
    return TestApp(app)


def form_token(web: TestApp) -> str:
    """The break-lock form's token, as the admin page hands it to the admin."""
    page = web.get("/admin/", headers=USERS["admin"]).html
    return page.select_one("input[name=csrf_token]")["value"]


def call(web: TestApp, row: Row, method: str, headers: dict[str, str]):
    """Make ``method`` request to ``row``'s URL; the response, whatever its status."""
    if method == "POST":
        form = dict(row.form)
        if row.url == "/admin/break-lock":
            form["csrf_token"] = form_token(web)
        return web.post(row.url, form, headers=headers, expect_errors=True)
    request = {"GET": web.get, "HEAD": web.head, "OPTIONS": web.options}[method]
    return request(row.url, headers=headers, expect_errors=True)


CELLS = [(rule, method, who, statuses[i])
         for rule, row in TABLE.items()
         for method, statuses in row.methods.items()
         for i, who in enumerate(USERS)]


@pytest.mark.parametrize(("rule", "method", "who", "status"), CELLS,
                         ids=[f"{m} {r} {w}" for r, m, w, _ in CELLS])
def test_route(web: TestApp, rule: str, method: str, who: str, status: int):
    response = call(web, TABLE[rule], method, USERS[who])
    assert response.status_int == status, response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="bzrstore"'


SMART_CELLS = [(verb, who, statuses[i])
               for verb, (_, statuses) in SMART.items()
               for i, who in enumerate(USERS)]


@pytest.mark.parametrize(("verb", "who", "status"), SMART_CELLS,
                         ids=[f"{v.decode()} {w}" for v, w, _ in SMART_CELLS])
def test_smart_verb(web: TestApp, verb: bytes, who: str, status: int):
    args = tuple(arg.replace(b"{user}", who.encode()) for arg in SMART[verb][0])
    response = web.post(SMART_URL, request_v3(verb, *args), expect_errors=True,
                        headers={**USERS[who], "Content-Type": "application/octet-stream"})
    assert response.status_int == status, response.text
    if SMART[verb][1] == WORKERS:  # the write happened exactly when it was allowed
        made = store_of(web.app).settings.repos_dir / "alpha/perm" / who / ".bzr"
        assert made.is_dir() == (status == 200)


def test_every_route_has_a_row(web: TestApp):
    served = {(rule.rule, method) for rule in web.app.url_map.iter_rules()
              for method in rule.methods}
    tabled = {(rule, method) for rule, row in TABLE.items()
              for method, statuses in row.methods.items() if statuses != NOT_ALLOWED}
    assert tabled == served
    for rule, row in TABLE.items():  # and a method each rule refuses
        assert NOT_ALLOWED in row.methods.values(), rule
