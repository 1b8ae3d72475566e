"""Error responses: short text, or JSON when the client asked for JSON; never a traceback."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.exceptions import HTTPException, Unauthorized
from werkzeug.wrappers import Request, Response

REALM = "bzrstore"
CHALLENGE = f'Basic realm="{REALM}"'


class BasicChallenge(Unauthorized):
    """A 401 that always carries the Basic challenge brz answers with credentials."""

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        """The usual headers plus ``WWW-Authenticate: Basic realm="bzrstore"``."""
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", CHALLENGE)]


def unauthorized(description: str = "authentication required") -> BasicChallenge:
    """A 401 with the Basic challenge."""
    return BasicChallenge(description)


def wants_json(environ: dict[str, Any]) -> bool:
    """True when the client prefers JSON to text."""
    best = Request(environ).accept_mimetypes.best_match(["text/plain", "application/json"])
    return best == "application/json"


def render_error(exc: HTTPException, environ: dict[str, Any],
                 as_json: bool | None = None) -> Response:
    """The response for ``exc``: its status and headers, a one-line text or JSON body.

    JSON when ``as_json`` says so; when it is None, as the client's ``Accept`` prefers.
    """
    response = exc.get_response(environ)
    message = exc.description or exc.name
    if wants_json(environ) if as_json is None else as_json:
        response.set_data(json.dumps({"error": message, "status": exc.code}) + "\n")
        response.mimetype = "application/json"
    else:
        response.set_data(f"{message}\n")
        response.mimetype = "text/plain"
    return response
