"""The file views on a branch pushed by the real ``brz``, served by gunicorn."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from servers import Brz

BINARY = bytes(range(256)) * 4


def fetch(url: str, accept: str = "text/html") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_pushed_branch_can_be_browsed(store, brz: Brz, tmp_path: Path):
    work = tmp_path / "work"
    brz.run("init", work)
    (work / "src").mkdir()
    (work / "src" / "app.py").write_text("import os\n\nprint(os.getcwd())\n")
    (work / "logo.png").write_bytes(BINARY)
    brz.run("add", "-q", cwd=work)
    brz.run("commit", "-q", "-m", "first", cwd=work)
    (work / "src" / "app.py").write_text("import os\n\nprint(os.getcwd(), 1)\n")
    brz.run("commit", "-q", "-m", "second", cwd=work)
    brz.run("push", "-d", work, store.writer_url("alpha/browse/main"))
    revids = brz.revision_ids(work)
    base = f"{store.url}/bzr/alpha/browse/main/-"

    status, _, body = fetch(f"{base}/files", "application/json")
    listing = json.loads(body)
    assert status == 200 and [e["name"] for e in listing["entries"]] == ["src", "logo.png"]

    status, _, body = fetch(f"{base}/file/src/app.py")
    assert status == 200 and b'id="L3"' in body and b"getcwd" in body

    status, _, body = fetch(f"{base}/annotate/src/app.py", "application/json")
    assert [line["revision_id"] for line in json.loads(body)["lines"]] == [
        revids[0], revids[0], revids[1]]
    assert (store.data / "run" / "line-cache.sqlite3").exists()  # shared by the workers

    status, headers, body = fetch(f"{base}/raw/logo.png")
    assert status == 200 and body == BINARY
    assert headers["Content-Type"] == "application/octet-stream"

    status, headers, body = fetch(f"{base}/tarball?rev={revids[0]}")
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        app = archive.extractfile("alpha-browse-main-r1/src/app.py")
        assert app is not None and app.read() == b"import os\n\nprint(os.getcwd())\n"

    status, _, body = fetch(f"{base}/file/..%2F..%2Fetc%2Fpasswd")
    assert status == 400 and b"invalid path" in body
    status, _, body = fetch(f"{base}/file/nosuch")
    assert status == 404 and b"no such path" in body
