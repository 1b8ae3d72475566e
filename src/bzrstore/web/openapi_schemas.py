"""The parts the OpenAPI modules share: media types, response helpers, and every JSON schema."""

from __future__ import annotations

from typing import Any

TEXT, JSON, HTML = "text/plain", "application/json", "text/html"


def schema_ref(name: str) -> dict[str, str]:
    """A reference to the schema ``name`` of ``SCHEMAS``."""
    return {"$ref": f"#/components/schemas/{name}"}

def body(description: str, *types: str, schema: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """A response whose body comes in ``types``; JSON ones are described by ``schema``."""
    content = {kind: ({"schema": schema} if kind == JSON and schema else {}) for kind in types}
    return {"description": description, "content": content}


def error(description: str) -> dict[str, Any]:
    """An error: one line of text, or ``{"error", "status"}`` when the client asks for JSON."""
    return body(description, TEXT, JSON, schema=schema_ref("Error"))



_NULLABLE_STRING = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "status"], "properties": {
        "error": {"type": "string"}, "status": {"type": "integer"}}},
    "CodebaseListing": {
        "type": "array", "items": {"type": "string"},
        "description": "One page of names in byte order; the page's place is in the headers."},
    "BranchListing": {
        "type": "object", "required": ["codebase", "branches"],
        "properties": {"codebase": {"type": "string"},
                       "branches": {"type": "array", "items": schema_ref("Branch")}}},
    "Branch": {
        "type": "object",
        "required": ["path", "revno", "revision_id", "committer", "timestamp", "message"],
        "properties": {"path": {"type": "string"}, "revno": {"type": "integer"},
                       "revision_id": {"type": "string"}, "committer": _NULLABLE_STRING,
                       "timestamp": {"type": ["number", "null"],
                                     "description": "POSIX time of the tip's commit"},
                       "message": _NULLABLE_STRING}},
    "RevisionInfo": {
        "type": "object",
        "description": "Both spellings of the id are given: Janitor's readers differ.",
        "required": ["revision-id", "revision_id", "message", "link", "commit_id"],
        "properties": {"revision-id": {"type": "string"}, "revision_id": {"type": "string"},
                       "message": {"type": "string"},
                       "link": {"type": ["string", "null"], "format": "uri",
                                "description": "This revision's diff against its left parent"},
                       "commit_id": {"type": "null"}}},
    "Remote": {"type": "object", "required": ["codebase", "remote", "url"], "properties": {
        "codebase": {"type": "string"}, "remote": {"type": "string"},
        "url": {"type": "string"}}},
    "Push": {
        "type": "object",
        "required": ["codebase", "path", "old_revno", "old_revision_id", "new_revno",
                     "new_revision_id", "worker", "pushed_at"],
        "properties": {"codebase": {"type": "string"}, "path": {"type": "string"},
                       "old_revno": {"type": "integer"}, "old_revision_id": {"type": "string"},
                       "new_revno": {"type": "integer"}, "new_revision_id": {"type": "string"},
                       "worker": _NULLABLE_STRING, "pushed_at": {"type": "number"}}},
}
