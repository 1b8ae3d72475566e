"""/health and /ready: ``ok`` with no newline (what Janitor's tests compare), 503 with a reason."""

from __future__ import annotations

from webtest import TestApp


def test_health_and_ready_answer_ok(web: TestApp):
    for path in ("/health", "/ready"):
        response = web.get(path)
        assert (response.body, response.content_type) == (b"ok", "text/plain")


def test_ready_names_what_is_missing(web: TestApp):
    repos = web.app.extensions["bzrstore"].settings.repos_dir
    repos.rename(repos.with_name("gone"))
    response = web.get("/ready", status=503)
    assert response.text == "storage unavailable\n"
    assert web.get("/health").body == b"ok"
