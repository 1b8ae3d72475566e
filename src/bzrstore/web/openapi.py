"""The OpenAPI 3.1 document of every endpoint other than the smart protocol."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bzrstore.web import openapi_files
from bzrstore.web.admin import MAX_PUSHES, RECENT_PUSHES
from bzrstore.web.budget import BROWSE_VIEW, BUDGETED_VIEWS
from bzrstore.web.listings import PAGE_SIZE
from bzrstore.web.openapi_browse import BROWSE_PATHS, BROWSE_SCHEMAS
from bzrstore.web.openapi_schemas import (
    HTML,
    JSON,
    SCHEMAS,
    TEXT,
    body,
    error,
    schema_ref,
)
from bzrstore.web.params import MAX_PAGE


def _param(name: str, where: str, description: str, required: bool = False,
           **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": description, "schema": {"type": "string", **schema}}


CODEBASE = _param("codebase", "path", "A registered codebase.")
LISTED_AS = (HTML, JSON, TEXT)
NEGOTIATED = "HTML, JSON or one name per line, chosen by `Accept` (`Vary: Accept`)."
BASIC = [{"basic": []}]
UNAUTHORIZED = {"401": {**error("No or wrong credentials."),
                        "headers": {"WWW-Authenticate": {
                            "description": 'Always `Basic realm="bzrstore"`.', "required": True,
                            "schema": {"type": "string"}}}}}
# The answer of every page the per-client budget guards (web/budget.py).
OVER_BUDGET = {"429": {**error("This client spent its budget of expensive pages"
                                " (`BZRSTORE_PAGE_BUDGET` units a window: annotate, compare,"
                                " history pages past the 10th, tarballs)."),
                       "headers": {"Retry-After": {
                           "description": "Seconds until the page fits in the budget again.",
                           "required": True, "schema": {"type": "integer"}}}}}
PAGE_HEADERS = {
    "Link": {"description": "JSON and HTML only (text lists every match): RFC 8288 links to"
                            ' the `rel="first"`, `"prev"`, `"next"` and `"last"` pages, as'
                            " absolute URLs (no `prev` on the first page, no `next` on the"
                            " last).", "schema": {"type": "string"}},
    "X-Total-Count": {"description": "JSON and HTML only: how many codebases match `q`.",
                      "schema": {"type": "integer"}},
}
LISTING_PARAMS = [
    _param("q", "query", "Only names containing this text (at most 255 characters, no "
           "control characters)."),
    _param("page", "query", f"Page number, {PAGE_SIZE} names a page, 1 to {MAX_PAGE}.",
           pattern="^[1-9][0-9]{0,6}$"),
]
REVISIONS = [
    _param("old", "query", "Revision id to start from; `null:` is the empty tree.", True),
    _param("new", "query", "Revision id to end at. A `+` decoded as a space is accepted.", True),
]


def _codebases_listing() -> dict[str, Any]:
    return {"get": {
        "summary": "Registered codebases",
        "description": "HTML, JSON or one name per line, chosen by `Accept` (`Vary: Accept`);"
                       " JSON also for `*/*` alone or no `Accept` (what aiohttp, requests,"
                       " curl and reqwest send). Text lists every match; JSON and HTML are"
                       " paged, the page's place in the `Link` and `X-Total-Count` headers.",
        "parameters": LISTING_PARAMS,
        "responses": {
            "200": {**body("A page of codebase names (JSON: a plain array, sorted).",
                            JSON, HTML, TEXT, schema=schema_ref("CodebaseListing")),
                    "headers": PAGE_HEADERS},
            "400": error(f"`page` is not a whole number from 1 to {MAX_PAGE}, or `q` is over "
                          "255 characters or holds control characters."),
            "406": error("None of HTML, JSON or text is acceptable."),
        }}}


PATHS: dict[str, Any] = {
    "/": _codebases_listing(),
    "/bzr/": _codebases_listing(),
    "/bzr/{codebase}/": {"get": {
        "summary": "Branches of a codebase, as last pushed through the store",
        "description": NEGOTIATED.replace("one name", "path, revno and tip"),
        "parameters": [CODEBASE],
        "responses": {
            "200": body("The branches.", *LISTED_AS, schema=schema_ref("BranchListing")),
            "400": error("Invalid codebase name."),
            "404": error("No such codebase."),
            "406": error("None of HTML, JSON or text is acceptable."),
        }}},
    "/repositories": {"get": {
        "summary": "Every codebase name",
        "responses": {"200": body("The names, sorted.", JSON, schema={
            "type": "array", "items": {"type": "string"}})}}},
    "/{codebase}/diff": {"get": {
        "summary": "Unified diff between two revisions, streamed",
        "description": "Equal to `brz diff -r revid:OLD..revid:NEW` but for header times. "
                       "A diff that exceeds the configured time or size ends with a line "
                       "saying so.",
        "parameters": [CODEBASE, *REVISIONS,
                       _param("path", "query", "Only this file or directory.")],
        "responses": {
            "200": body("The diff; empty when `old` equals `new`.", "text/x-diff"),
            "400": error("A parameter is missing or malformed, or the codebase name is invalid."),
            "404": error("Unknown codebase, revision or path."),
        }}},
    "/{codebase}/revision-info": {"get": {
        "summary": "Revisions between two revisions, newest first",
        "description": "The left-hand ancestry of `new` that is not in `old`, at most "
                       "10,000 entries; when there are more, a `Link` header with "
                       "`rel=\"next\"` names the request for the rest. Errors are always JSON.",
        "parameters": [CODEBASE, *REVISIONS],
        "responses": {
            "200": body("The revisions.", JSON, schema={
                "type": "array", "items": schema_ref("RevisionInfo")}),
            "400": body("A parameter is missing or malformed.", JSON, schema=schema_ref("Error")),
            "404": body("Unknown codebase or revision.", JSON, schema=schema_ref("Error")),
        }}},
    "/{codebase}/remotes/{remote}": {"post": {
        "summary": "Set the parent location of branch `<codebase>/<remote>`",
        "security": BASIC,
        "parameters": [CODEBASE, _param("remote", "path", "The branch below the codebase.")],
        "requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["url"],
                "properties": {"url": {"type": "string", "format": "uri"}}}}}},
        "responses": {
            "200": body("The parent location was set.", JSON, schema=schema_ref("Remote")),
            "400": error("Invalid name, or `url` is not a URL brz could pull from."),
            **UNAUTHORIZED,
            "403": error("Sent by a browser from another origin."),
            "404": error("No such codebase or branch."),
        }}},
    "/bzr/{branch}/.bzr/{file}": {"get": {
        "summary": "A control file, read over plain HTTP (brz's fallback without smart)",
        "description": "`branch` and `file` may each span several path segments.",
        "parameters": [_param("branch", "path", "`<codebase>[/<path>…]`."),
                       _param("file", "path", "Path below `.bzr/`.")],
        "responses": {
            "200": body("The file.", "application/octet-stream"),
            "404": error("No such codebase or file, a file brz does not read over plain"
                          " HTTP (lock details), or an invalid name."),
        }}},
    "/api/pushes": {"get": {
        "summary": "The push log, newest first",
        "parameters": [
            _param("codebase", "query", "Only this codebase."),
            _param("limit", "query", f"At most this many (default {RECENT_PUSHES}, "
                   f"at most {MAX_PUSHES}).", pattern="^[0-9]+$"),
        ],
        "responses": {
            "200": body("Pushes.", JSON, schema={"type": "array", "items": schema_ref("Push")}),
            "400": error(f"`limit` is not a whole number from 1 to {MAX_PUSHES}."),
        }}},
    "/admin/": {"get": {
        "summary": "The admin page (admins only)",
        "security": BASIC,
        "parameters": LISTING_PARAMS,
        "responses": {
            "200": body("Codebases with size and last push, workers, recent pushes.", HTML),
            "400": error(f"`page` is not a whole number from 1 to {MAX_PAGE}, or `q` is over "
                          "255 characters or holds control characters."),
            **UNAUTHORIZED,
            "403": error("The worker is not an admin."),
        }}},
    "/admin/break-lock": {"post": {
        "summary": "Break a stale lock of a repository or branch (admins only)",
        "security": BASIC,
        "requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["target", "csrf_token"],
                "properties": {"target": {"type": "string",
                                          "description": "`<codebase>[/<branch>]`"},
                               "csrf_token": {"type": "string",
                                              "description": "The token of the admin page's"
                                                             " form, made for this admin"}}}}}},
        "responses": {
            "200": body("What was broken.", HTML),
            "400": error("Invalid target, or no branch or repository there."),
            **UNAUTHORIZED,
            "403": error("Not an admin, a cross-site submission, or a missing or stale"
                          " form token."),
        }}},
    "/health": {"get": {
        "summary": "Liveness", "responses": {"200": body("`ok` (no newline)", TEXT)}}},
    "/ready": {"get": {
        "summary": "Readiness: the registry and the storage answer",
        "responses": {"200": body("`ok` (no newline)", TEXT),
                      "503": body("Which of the two is unavailable.", TEXT)}}},
    "/metrics": {"get": {
        "summary": "Prometheus metrics, summed over gunicorn workers",
        "responses": {"200": body("Prometheus text exposition format.", TEXT)}}},
    "/robots.txt": {"get": {
        "summary": "Crawling rules (RFC 9309): crawlers kept to the cheap pages",
        "responses": {"200": body("`User-agent: *`, then `Disallow`/`Allow` lines; cacheable"
                                   " for a day.", TEXT)}}},
    "/openapi.json": {"get": {
        "summary": "This document",
        "responses": {"200": body("OpenAPI 3.1.", JSON, schema={"type": "object"})}}},
}

def with_budget(paths: dict[str, Any]) -> dict[str, Any]:
    """``paths`` with the 429 added to every page the per-client budget may refuse."""
    guarded = {}
    for template, operations in paths.items():
        match = BROWSE_VIEW.match(template)
        if match and match["view"] in BUDGETED_VIEWS:
            get = operations["get"]
            operations = {**operations, "get": {
                **get, "responses": {**get["responses"], **OVER_BUDGET}}}
        guarded[template] = operations
    return guarded


def build_document() -> dict[str, Any]:
    """The OpenAPI document served at ``/openapi.json``."""
    try:
        package_version = version("bzrstore")
    except PackageNotFoundError:  # running from a source tree that is not installed
        package_version = "unknown"
    return {
        "openapi": "3.1.0",
        "info": {"title": "bzrstore", "version": package_version,
                 "description": "A Bazaar repository store. Branches themselves are served "
                                "over the Bazaar smart protocol at `POST …/.bzr/smart`, "
                                "which is not described here."},
        "paths": with_budget({**PATHS, **BROWSE_PATHS, **openapi_files.PATHS}),
        "components": {
            "schemas": {**SCHEMAS, **BROWSE_SCHEMAS, **openapi_files.SCHEMAS},
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic",
                                          "description": "A worker's name and password."}}},
    }
