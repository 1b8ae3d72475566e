"""gunicorn entry point of the ``bzrstore-noauth`` benchmark candidate.

bzrstore's streaming smart-server app mounted writable on a plain directory, with no
registry and no authentication: ``POST /<relpath>/.bzr/smart`` for branches under the
root.  It is the yardstick for the cost of authentication on push::

    BZRSTORE_NOAUTH_ROOT=/srv/bzr gunicorn --chdir benchmarks -b 127.0.0.1:8000 noauth_wsgi:app
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException

from bzrstore.smart.app import StartResponse, StreamingSmartApp, make_smart_app
from bzrstore.smart.body import RequestBody

SMART_SUFFIX = "/.bzr/smart"
# The limit bzrstore's own default puts on a request body (BZRSTORE_MAX_BODY_BYTES).
MAX_BODY_BYTES = 1024**3


class StandaloneSmartApp:
    """One streaming smart app over a whole directory, like Breezy's ``make_app``.

    With no dispatcher in front, it bounds the request body itself.
    """

    def __init__(self, app: StreamingSmartApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.endswith(SMART_SUFFIX):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not a smart URL\n"]
        environ["breezy.relpath"] = path[: -len(SMART_SUFFIX)]
        try:
            environ["wsgi.input"] = RequestBody(environ, self.max_body_bytes)
        except HTTPException as exc:  # a declared length over the limit
            body = f"{exc.description}\n".encode()
            start_response(f"{exc.code} {exc.name}", [
                ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)


def make_standalone_app(root: str | Path, writable: bool = True) -> StandaloneSmartApp:
    """Serve every branch under ``root`` with no auth (benchmarks, local use)."""
    return StandaloneSmartApp(make_smart_app(Path(root), writable))


app = make_standalone_app(Path(os.environ["BZRSTORE_NOAUTH_ROOT"]), writable=True)
