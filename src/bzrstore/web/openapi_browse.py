"""The OpenAPI paths and schemas of the browse pages (``/bzr/<branch>/-/…``)."""

from __future__ import annotations

from typing import Any

from bzrstore.repos.changes import CHANGES_PAGE_SIZE, MAX_MERGED_SHOWN
from bzrstore.repos.pagediff import MAX_PAGE_DIFF_BYTES, MAX_PAGE_DIFF_LINES
from bzrstore.web.openapi_schemas import (
    HTML,
    JSON,
    body,
    error,
    schema_ref,
)
from bzrstore.web.params import MAX_PAGE

ATOM = "application/atom+xml"
CACHING = (" Addressed by revision id, the answer is immutable (strong `ETag`, `Cache-Control:"
           " public, max-age=31536000, immutable`); otherwise `Cache-Control: no-cache` with an"
           " `ETag` derived from the branch tip, and a matching `If-None-Match` is answered"
           " 304 without rendering. HTML or JSON by `Accept` (`Vary: Accept`).")
REVISION_SPEC = ("A mainline revno (`12`), a dotted revno (`1.2.3`) or a revision id"
                 " (percent-encoded; it may hold `/`).")


def _param(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path",
            "description": description, "schema": {"type": "string", **schema}}


BRANCH = _param("branch", "path", "`<codebase>[/<campaign>[/<role>]]`: up to three segments.")
VIEW = _param("view", "query", "`unified` (the default) or `sbs`: side by side.",
              enum=["unified", "sbs"])
BAD_BRANCH = "Invalid codebase, campaign or role name, or a location deeper than a role."
NO_BRANCH = "No such codebase, no branch there (a branch reference counts as none)"
NOT_ACCEPTABLE = error("Neither HTML nor JSON is acceptable.")
DIFF_NOTE = (f" The page shows at most {MAX_PAGE_DIFF_LINES:,} lines ({MAX_PAGE_DIFF_BYTES // 1024}"
             " KiB) of the diff, then says where it stopped (`diff_cut`); `diff_url` is the"
             " whole plain diff.")

BROWSE_PATHS: dict[str, Any] = {
    "/bzr/{branch}/-/changes": {"get": {
        "summary": "A branch's history, newest first",
        "description": f"{CHANGES_PAGE_SIZE} mainline revisions a page, each with the"
                       f" revisions it merged (at most {MAX_MERGED_SHOWN}, the rest counted),"
                       " tags, authors and dates." + CACHING,
        "parameters": [BRANCH, _param("page", "query", f"Page number, 1 to {MAX_PAGE}.",
                                      pattern="^[1-9][0-9]{0,6}$")],
        "responses": {
            "200": body("A page of history.", HTML, JSON, schema=schema_ref("Changes")),
            "400": error(f"{BAD_BRANCH} Or `page` is not a whole number from 1 to {MAX_PAGE}."),
            "404": error(f"{NO_BRANCH}, or a page past the last."),
            "406": NOT_ACCEPTABLE,
        }}},
    "/bzr/{branch}/-/revision/{revision}": {"get": {
        "summary": "One revision and its diff against its left-hand parent",
        "description": "Message, authors, committer, date, parents, tags, the revisions it"
                       " merged, the files it changed with line counts and the diff"
                       " (highlighted, unified or side by side)." + DIFF_NOTE + CACHING,
        "parameters": [BRANCH, _param("revision", "path", REVISION_SPEC), VIEW],
        "responses": {
            "200": body("The revision.", HTML, JSON, schema=schema_ref("Revision")),
            "400": error(f"{BAD_BRANCH} Or an impossible revision id, or a bad `view`."),
            "404": error(f"{NO_BRANCH}, or no such revision."),
            "406": NOT_ACCEPTABLE,
        }}},
    "/bzr/{branch}/-/compare/{revisions}": {"get": {
        "summary": "Two revisions compared: `old..new`",
        "description": "The left-hand history of `new` not in `old` (the newest 100) and the"
                       " diff from `old` to `new`." + DIFF_NOTE + CACHING.replace(
                           "revision id", "revision ids (both)"),
        "parameters": [BRANCH, _param("revisions", "path", "`<old>..<new>`, each a revno, a"
                                      " dotted revno or a (percent-encoded) revision id."),
                       VIEW],
        "responses": {
            "200": body("The comparison.", HTML, JSON, schema=schema_ref("Compare")),
            "400": error(f"{BAD_BRANCH} Or not `<old>..<new>`, or a bad `view`."),
            "404": error(f"{NO_BRANCH}, or no such revision."),
            "406": NOT_ACCEPTABLE,
        }}},
    "/bzr/{branch}/-/atom": {"get": {
        "summary": "Atom feed of a branch's newest 20 mainline revisions",
        "description": "Atom for feed readers and `*/*`, JSON on request. `ETag` from the"
                       " tip, `Cache-Control: no-cache`.",
        "parameters": [BRANCH],
        "responses": {
            "200": body("The feed.", ATOM, JSON, schema=schema_ref("Feed")),
            "400": error(BAD_BRANCH),
            "404": error(f"{NO_BRANCH}."),
            "406": error("Neither Atom nor JSON is acceptable."),
        }}},
}

_STRINGS = {"type": "array", "items": {"type": "string"}}
_CHANGE_FIELDS = {
    "revno": {"type": ["string", "null"], "description": "Dotted for merged revisions;"
              " null for a revision outside the branch's history"},
    "revision_id": {"type": "string"}, "message": {"type": "string"}, "authors": _STRINGS,
    "committer": {"type": "string"}, "timestamp": {"type": "number"},
    "timezone": {"type": "integer", "description": "Seconds east of UTC"}, "tags": _STRINGS,
}
_MERGED = {"merged": {"type": "array", "items": schema_ref("MergedChange")},
           "merged_more": {"type": "integer", "description": "Merged revisions not listed"}}

BROWSE_SCHEMAS: dict[str, Any] = {
    "Change": {"type": "object", "required": [*_CHANGE_FIELDS, *_MERGED],
               "properties": {**_CHANGE_FIELDS, **_MERGED}},
    "MergedChange": {"type": "object", "required": [*_CHANGE_FIELDS, "depth"],
                     "properties": {**_CHANGE_FIELDS, "depth": {"type": "integer"}}},
    "Changes": {"type": "object", "required": ["branch", "revno", "page", "pages", "changes"],
                "properties": {"branch": {"type": "string"}, "revno": {"type": "integer"},
                               "page": {"type": "integer"}, "pages": {"type": "integer"},
                               "changes": {"type": "array", "items": schema_ref("Change")}}},
    "FileChange": {"type": "object", "required": ["path", "old_path", "action", "kind",
                                                  "binary", "added", "removed"],
                   "properties": {"path": {"type": "string"}, "old_path": {"type": "string"},
                                  "action": {"enum": ["added", "removed", "renamed",
                                                      "modified"]},
                                  "kind": {"type": "string"}, "binary": {"type": "boolean"},
                                  "added": {"type": "integer"}, "removed": {"type": "integer"}}},
}
_DIFF_FIELDS = {"files": {"type": "array", "items": schema_ref("FileChange")},
                "diff_url": {"type": "string", "description": "The plain `text/x-diff`"},
                "diff_cut": {"type": ["string", "null"],
                             "description": "Why the page's diff stops early, or null"},
                "files_not_shown": {"type": "array", "items": {"type": "string"},
                                    "description": "Paths changed past the cut (at most"
                                                   " 1,000)"},
                "files_not_shown_more": {"type": "boolean"}}
BROWSE_SCHEMAS |= {
    "Revision": {"type": "object",
                 "required": [*_CHANGE_FIELDS, *_MERGED, "parents", *_DIFF_FIELDS],
                 "properties": {**_CHANGE_FIELDS, **_MERGED, **_DIFF_FIELDS, "parents": {
                     "type": "array", "items": {"type": "object", "required": [
                         "revision_id", "revno"], "properties": {
                         "revision_id": {"type": "string"},
                         "revno": {"type": ["string", "null"]}}}}}},
    "Compare": {"type": "object",
                "required": ["old", "new", "revisions", "more_revisions", *_DIFF_FIELDS],
                "properties": {"old": {"type": "string"}, "new": {"type": "string"},
                               "revisions": {"type": "array", "items": schema_ref("Change")},
                               "more_revisions": {"type": "boolean"}, **_DIFF_FIELDS}},
    "Feed": {"type": "object", "required": ["branch", "revno", "changes"],
             "properties": {"branch": {"type": "string"}, "revno": {"type": "integer"},
                            "changes": {"type": "array", "items": schema_ref("Change")}}},
}
