"""Generated and mutated smart requests, anonymous: never a 500, a traceback or a change on disk."""

from __future__ import annotations

import pytest
from breezy.controldir import ControlDir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webtest import TestApp

from bzrstore.smart.verbs import REFUSED_VERBS, build_command_registry
from helpers import make_app, store_of
from servers import tree_snapshot
from smartwire import request_v1, request_v2, request_v3, request_v3_stream

SMART_URLS = ("/bzr/alpha/.bzr/smart", "/bzr/alpha/trunk/.bzr/smart", "/alpha/trunk/.bzr/smart")
# Enough examples to cross every verb a few times while the tier stays well under 30 s.
EXAMPLES = 150
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """The app, a codebase with a real branch in it, and that branch's tip."""
    root = tmp_path_factory.mktemp("fuzz")
    app = make_app(root / "data")
    store = store_of(app)
    store.registry.add_codebase("alpha")
    web = TestApp(app)
    web.post(SMART_URLS[0], request_v3(b"hello"))  # makes the shared repository
    tree = ControlDir.create_standalone_workingtree(str(root / "work"))
    (root / "work" / "file.txt").write_text("one\ntwo\n")
    tree.add(["file.txt"])
    tip = tree.commit("first", committer="Fuzz <fuzz@example.com>")
    tree.branch.controldir.sprout(str(store.storage.codebase_dir("alpha") / "trunk"),
                                  create_tree_if_local=False)
    return web, store.settings.repos_dir, tip


VERBS = sorted(build_command_registry().keys()) + sorted(REFUSED_VERBS)
ARG = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", b".", b"..", b"trunk/", b"../beta", b".bzr/branch-format",
                     b"include-missing:", b"2a", b"yes", b"False", b"\x93", b"\xff\xfe"]),
    st.integers(min_value=-(2**40), max_value=2**40),
)
BODY = st.one_of(st.none(), st.binary(max_size=300),
                 st.sampled_from([b"0,1\n0,2", b"ancestry-of\n", b"search\n\n\n0", b"-1,-1"]))


def _recorded(tip: bytes) -> list[bytes]:
    """Requests a real brz sends for a clone, with this repository's names in them."""
    return [
        request_v1(b"hello"),
        request_v3(b"BzrDir.open_2.1", b"trunk/"),
        request_v3(b"BzrDir.open_branchV3", b"trunk/"),
        request_v3(b"Branch.last_revision_info", b"trunk/"),
        request_v3(b"Repository.get_parent_map", b"", b"include-missing:", tip,
                   body=b"ancestry-of\n" + tip),
        request_v3(b"Repository.get_stream_1.19", b"", b"Bazaar repository format 2a "
                   b"(needs bzr 1.16 or later)\n", body=b"ancestry-of\n" + tip),
        request_v3(b"readv", b".bzr/branch-format", body=b"0,5\n6,3"),
        request_v3_stream((b"readv", b".bzr/branch-format"), iter([b"0,1\n", b"1,1\n"])),
        request_v2(b"get", b".bzr/branch-format"),
    ]


def _encode(version: int, args: list, body: bytes | None) -> bytes:
    if version == 3:
        return request_v3(*args, body=body)
    line = request_v1(*(arg if isinstance(arg, bytes) else b"%d" % arg for arg in args))
    line += body or b""
    return line if version == 1 else b"bzr request 2\n" + line


def _check(served, url: str, body: bytes) -> None:
    web, repos, _ = served
    before = tree_snapshot(repos)
    response = web.post(url, body, headers={"Content-Type": "application/octet-stream"},
                        expect_errors=True)
    assert response.status_int < 500, response.body[:300]
    assert b"Traceback" not in response.body
    assert tree_snapshot(repos) == before


@FUZZ
@given(data=st.data(), version=st.sampled_from([1, 2, 3]), verb=st.sampled_from(VERBS),
       args=st.lists(ARG, max_size=6), body=BODY, url=st.sampled_from(SMART_URLS))
def test_generated_requests(served, data, version, verb, args, body, url):
    _check(served, url, _encode(version, [verb, *args], body))


@FUZZ
@given(data=st.data(), url=st.sampled_from(SMART_URLS))
def test_mutated_recorded_requests(served, data, url):
    request = bytearray(data.draw(st.sampled_from(_recorded(served[2]))))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(request)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        if action == "flip" and at < len(request):
            request[at] ^= data.draw(st.integers(min_value=1, max_value=255))
        elif action == "cut":
            del request[at:]
        elif action == "insert":
            request[at:at] = data.draw(st.binary(min_size=1, max_size=20))
        else:
            request[at:at] = request[at:at + data.draw(st.integers(0, 64))]
    _check(served, url, bytes(request))


@FUZZ
@given(body=st.binary(max_size=500), url=st.sampled_from(SMART_URLS))
def test_random_bytes(served, body, url):
    _check(served, url, body)
