"""/robots.txt: read as RFC 9309 says a crawler reads it, it keeps crawlers to cheap pages."""

from __future__ import annotations

import re

import pytest

from bzrstore.web.robots import robots_rules

CHEAP = [
    "/", "/bzr/", "/bzr/alpha/", "/bzr/alpha/c/main/-/changes",
    "/bzr/alpha/c/main/-/changes?page=2", "/bzr/alpha/c/main/-/changes?page=10",
    "/bzr/alpha/-/changes", "/bzr/alpha/c/main/-/revision/12",
    "/bzr/alpha/c/main/-/revision/jelmer%40example.com-2020-abc",
    "/bzr/alpha/c/main/-/files", "/bzr/alpha/c/main/-/files/src",
    "/bzr/alpha/c/main/-/file/src/main.c", "/bzr/alpha/c/main/-/file/diff/notes.txt",
    "/bzr/alpha/c/main/-/atom", "/openapi.json", "/robots.txt",
]
EXPENSIVE = [
    "/bzr/alpha/c/main/-/annotate/src/main.c", "/bzr/alpha/-/annotate/README",
    "/bzr/alpha/c/main/-/compare/1..20", "/bzr/alpha/c/main/-/tarball",
    "/bzr/alpha/c/main/-/tarball?rev=3", "/bzr/alpha/c/main/-/raw/big.iso",
    "/bzr/alpha/c/main/-/changes?page=11", "/bzr/alpha/c/main/-/changes?page=100",
    "/bzr/alpha/c/main/-/changes?page=1", "/bzr/alpha/c/main/-/changes?page=2&x=1",
    "/bzr/alpha/c/main/-/files?rev=3", "/bzr/alpha/c/main/-/files/src?rev=3",
    "/bzr/alpha/c/main/-/file/src/main.c?rev=1.2.3", "/bzr/alpha/c/main/-/revision/3?view=sbs",
    "/bzr/alpha/c/main/.bzr/branch/last-revision", "/alpha/.bzr/smart",
    "/alpha/diff?old=a&new=b", "/alpha/revision-info?old=a&new=b", "/admin/", "/api/pushes",
    "/metrics",
]


def rules(text: str) -> list[tuple[bool, str]]:
    """The (allow, pattern) rules of the ``User-agent: *`` group."""
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    assert "User-agent: *" in lines
    found = []
    for line in lines:
        field, _, value = line.partition(":")
        if field.lower() in ("allow", "disallow"):
            found.append((field.lower() == "allow", value.strip()))
    return found


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """RFC 9309 section 2.2.3: ``*`` is any characters, a final ``$`` ends the path."""
    anchored = pattern.endswith("$")
    body = ".*".join(re.escape(part) for part in pattern.rstrip("$").split("*"))
    return re.compile(body + ("$" if anchored else ""))


def allowed(text: str, path: str) -> bool:
    """RFC 9309 section 2.2.2: the longest matching rule wins; a tie goes to allow."""
    matches = [(len(pattern), allow) for allow, pattern in rules(text)
               if pattern and pattern_regex(pattern).match(path)]
    return max(matches, default=(0, True))[1]


def test_robots_txt_is_served_as_text_and_cacheable(web):
    response = web.get("/robots.txt", status=200)
    assert response.content_type == "text/plain"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    assert response.text == robots_rules()


@pytest.mark.parametrize("path", CHEAP)
def test_cheap_pages_are_open_to_crawlers(path):
    assert allowed(robots_rules(), path)


@pytest.mark.parametrize("path", EXPENSIVE)
def test_expensive_and_endless_pages_are_closed_to_crawlers(path):
    assert not allowed(robots_rules(), path)


def test_the_rules_follow_a_path_prefix(web):
    response = web.get("/robots.txt", extra_environ={"SCRIPT_NAME": "/code"})
    assert not allowed(response.text, "/code/bzr/alpha/c/main/-/annotate/x")
    assert allowed(response.text, "/code/bzr/alpha/c/main/-/changes")
    assert allowed(response.text, "/bzr/alpha/c/main/-/annotate/x")  # not ours to rule
