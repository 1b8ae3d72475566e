"""The smart bounds under a real gunicorn, with the real brz client."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from bzrstore.verb_limits import REFUSED_VERBS
from servers import Brz
from smartwire import request_v1, request_v2, request_v3


def _post(url: str, body: bytes) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_brz_works_without_the_refused_verbs(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.make_branch(work, revisions=3)
    brz.run("push", "-d", work, store.writer_url("alpha/refused/main"))
    url = store.reader_url("alpha/refused/main")
    smart = url + "/.bzr/smart"
    for verb in REFUSED_VERBS:
        status, _, body = _post(smart, request_v3(verb, b"", b"x", b"", b"", b"", b""))
        assert status == 200 and b"UnknownMethod" in body

    clone = tmp_path / "clone"
    brz.run("branch", url, clone)
    assert brz.revision_ids(clone) == brz.revision_ids(work)
    # export and annotate fall back to work done by the client.
    brz.run("export", tmp_path / "export.tar", url)
    assert (tmp_path / "export.tar").stat().st_size > 0
    annotated = brz.run("annotate", url + "/dir/file.txt").stdout
    assert annotated.count("line 2") == 3


@pytest.mark.parametrize("body", [
    b"\x93\n",
    b"bzr request 2\n\x93\xfe\x01\x00garbage",
    request_v2(b"get", b".."),
    request_v2(b"BzrDir.cloning_metadir", b"", b"False"),
    request_v2(b"iter_files_recursive", b""),
    request_v1(b"iter_files_recursive", b""),
])
def test_failures_are_smart_errors_not_gunicorn_500(store, body: bytes):
    status, content_type, answer = _post(store.url + "/bzr/alpha/.bzr/smart", body)
    assert status == 200
    assert content_type == "application/octet-stream"
    assert answer.startswith((b"error\x01", b"bzr response 2\nfailed\n"))
    assert b"<html" not in answer.lower()
