"""The OpenAPI paths and schemas of the file views (``web/files.py``)."""

from __future__ import annotations

from typing import Any

from bzrstore.repos.annotate import ANNOTATE_TIMEOUT_SECONDS, MAX_ANNOTATE_BYTES
from bzrstore.repos.trees import MAX_LISTING_ENTRIES, MAX_READ_BYTES, MAX_VIEW_BYTES, MAX_VIEW_LINES
from bzrstore.web.openapi_schemas import HTML, JSON, TEXT, error, schema_ref

BRANCH = "/bzr/{branch}/-"
CACHING = (" Addressed by revision id (`rev`) the answer is immutable (strong `ETag`,"
           " `Cache-Control: public, max-age=31536000, immutable`); otherwise its `ETag` follows"
           " the branch tip (`Cache-Control: no-cache`) and a matching `If-None-Match` is"
           " answered 304 without reading the tree.")
_NULLABLE_INT = {"type": ["integer", "null"]}


def _param(name: str, where: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "description": description,
            "schema": {"type": "string"}}


LOCATION = _param("branch", "path", "`<codebase>[/<campaign>[/<role>]]`: the branch.")
PATH = _param("path", "path", "A path in the tree (`/`-separated; no `.`, `..` or empty parts).")
REV = _param("rev", "query", "The revision: a revno (`12`), a dotted revno (`1.2.3`) or a "
             "revision id. Default: the branch tip.")


def _errors(kind: str) -> dict[str, Any]:
    return {"400": error("A bad location, path or revision (a control character, `..`, an "
                          "over-long revision id, an empty `rev`)."),
            "404": error(f"No such codebase, branch, revision, or {kind} at that revision.")}


def _page(summary: str, description: str, schema: str, kind: str, path: bool = True
          ) -> dict[str, Any]:
    """A negotiated page: HTML for browsers, JSON on request."""
    return {"get": {
        "summary": summary, "description": description + CACHING,
        "parameters": [LOCATION, *([PATH] if path else []), REV],
        "responses": {
            "200": {"description": "HTML or JSON by `Accept` (`Vary: Accept`).",
                    "content": {HTML: {}, JSON: {"schema": schema_ref(schema)}}},
            **_errors(kind),
            "406": error("Neither HTML nor JSON is acceptable."),
        }}}


def _download(summary: str, description: str, types: tuple[str, ...], kind: str,
              path: bool = True) -> dict[str, Any]:
    return {"get": {
        "summary": summary, "description": description + CACHING,
        "parameters": [LOCATION, *([PATH] if path else []), REV],
        "responses": {"200": {"description": "Streamed.", "content": {t: {} for t in types}},
                      **_errors(kind)}}}


LISTING = ("Directories first, then files, by name; each entry with its size and the revision "
           f"that last changed it (revno, author, date, summary). At most {MAX_LISTING_ENTRIES:,} "
           "entries (`truncated` says when there are more).")
FILE = (f"At most {MAX_VIEW_BYTES:,} bytes and {MAX_VIEW_LINES:,} lines are shown (`truncated`); "
        f"files over {MAX_READ_BYTES:,} bytes are not read (`too_large`) and binaries (a NUL in "
        "the first 1024 bytes) not shown: `raw` has them.")
ANNOTATE = (f"Files up to {MAX_ANNOTATE_BYTES:,} bytes; computed within "
            f"{ANNOTATE_TIMEOUT_SECONDS:g} s once per file text, then cached (`reason` says why "
            "a file is not annotated).")

PATHS: dict[str, Any] = {
    f"{BRANCH}/files": _page("The root directory of a branch", LISTING, "Directory",
                             "directory", path=False),
    f"{BRANCH}/files/{{path}}": _page("A directory of a branch", LISTING, "Directory",
                                      "directory"),
    f"{BRANCH}/file/{{path}}": _page("A file, its lines highlighted with `#L<n>` anchors", FILE,
                                     "File", "file"),
    f"{BRANCH}/annotate/{{path}}": _page("Who last changed each line of a file", ANNOTATE,
                                         "Annotation", "file"),
    f"{BRANCH}/raw/{{path}}": _download(
        "A file's bytes", "Text as `text/plain; charset=utf-8`, a binary as "
        "`application/octet-stream` with `Content-Disposition: attachment`; always `nosniff` "
        "and a sandboxing `Content-Security-Policy`.",
        (TEXT, "application/octet-stream"), "file"),
    f"{BRANCH}/tarball": _download(
        "The tree as a `.tar.gz`", "Streamed in bounded memory; members under "
        "`<codebase>-<campaign>-<role>-r<revno>/`, their mtime the commit's.",
        ("application/gzip",), "tree", path=False),
}

_CHANGE = {"type": ["object", "null"],
           "description": "The revision that last changed it (null if not in the repository)",
           "required": ["revision_id", "revno", "author", "timestamp", "summary", "url"],
           "properties": {"revision_id": {"type": "string"}, "revno": {"type": ["string", "null"]},
                          "author": {"type": "string"}, "timestamp": {"type": "number"},
                          "summary": {"type": "string"}, "url": {"type": "string"}}}
SCHEMAS: dict[str, Any] = {
    "Directory": {"type": "object", "required": ["path", "revision_id", "total", "truncated",
                                                 "entries"], "properties": {
        "path": {"type": "string"}, "revision_id": {"type": "string"},
        "total": {"type": "integer"}, "truncated": {"type": "boolean"},
        "entries": {"type": "array", "items": {"type": "object", "required": [
            "name", "path", "kind", "size", "executable", "target", "last_changed"],
            "properties": {"name": {"type": "string"}, "path": {"type": "string"},
                           "kind": {"enum": ["file", "directory", "symlink", "tree-reference"]},
                           "size": _NULLABLE_INT, "executable": {"type": "boolean"},
                           "target": {"type": ["string", "null"]}, "last_changed": _CHANGE}}}}},
    "File": {"type": "object", "required": ["path", "revision_id", "size", "executable", "binary",
                                            "too_large", "truncated", "last_changed", "text"],
             "properties": {"path": {"type": "string"}, "revision_id": {"type": "string"},
                            "size": {"type": "integer"}, "executable": {"type": "boolean"},
                            "binary": {"type": "boolean"}, "too_large": {"type": "boolean"},
                            "truncated": {"type": "boolean"}, "last_changed": _CHANGE,
                            "text": {"type": ["string", "null"],
                                     "description": "UTF-8 (bad bytes replaced); null when "
                                                    "binary or too large"}}},
    "Annotation": {"type": "object", "required": ["path", "revision_id", "reason", "revisions",
                                                  "lines"], "properties": {
        "path": {"type": "string"}, "revision_id": {"type": "string"},
        "reason": {"type": ["string", "null"]},
        "revisions": {"type": "object", "additionalProperties": _CHANGE},
        "lines": {"type": "array", "items": {"type": "object", "required": [
            "revision_id", "text"], "properties": {"revision_id": {"type": "string"},
                                                    "text": {"type": "string"}}}}}},
}
