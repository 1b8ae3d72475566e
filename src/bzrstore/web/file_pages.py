"""What the file views show: the data of each page, its JSON, and the streamed responses.

Views (``web/files.py``) call these inside ``BrowseContext.respond``, so none of it runs
for a 304. A page's data is a dict: the template's arguments, and what its JSON is
made from.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote

import pygments
from flask import Response, current_app
from markupsafe import Markup, escape

from bzrstore.repos import summaries, trees
from bzrstore.repos.annotate import Annotation
from bzrstore.repos.history import history_of
from bzrstore.repos.line_cache import FILE_NAME, LineCache, line_key
from bzrstore.repos.tarballs import write_tarball
from bzrstore.web.browsing import BrowseContext, quote_revid
from bzrstore.web.highlighting import highlight_lines, plain_lines
from bzrstore.web.preamble import get_store

LINE_CACHE_KEY = "bzrstore.line_cache"
# Text a file page highlights (Pygments' cost follows it); larger files are escaped only.
HIGHLIGHT_MAX_BYTES = 128 * 1024
PYGMENTS_VERSION = pygments.__version__  # part of the key: its HTML may change with it
# What raw text may do if a browser renders it anyway: nothing.
RAW_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff",
                        "Content-Security-Policy": "default-src 'none'; sandbox"}


def line_cache() -> LineCache:
    """The app's line cache: one per process, its file in the node's run directory."""
    extensions = current_app.extensions
    if LINE_CACHE_KEY not in extensions:
        extensions[LINE_CACHE_KEY] = LineCache(get_store().settings.run_dir / FILE_NAME)
    return extensions[LINE_CACHE_KEY]


def _base(context: BrowseContext, revid: bytes, spec: str, path: str, active: str
          ) -> dict[str, Any]:
    """What every file page holds: the branch, the revision, the path and its parents."""
    parts = path.split("/") if path else []
    crumbs = [(name, "/".join(parts[:n + 1])) for n, name in enumerate(parts)]
    label = (history_of(context.branch).revno(revid) or revid.decode()) if spec else ""
    return {"ctx": context, "active": active, "revid": revid, "spec": spec,
            "rev": spec or None, "rev_label": label, "path": path, "crumbs": crumbs,
            "quote": quote}


def _changes(context: BrowseContext, revids: list[bytes]) -> dict[bytes, dict[str, Any]]:
    """Who, when, what and the revno of each of ``revids`` (for last-changed columns)."""
    found = summaries.summarize(context.branch.repository, revids)
    history = history_of(context.branch)
    return {revid: {"revision_id": revid.decode(), "revno": history.revno(revid),
                    "author": found[revid].author, "timestamp": found[revid].timestamp,
                    "summary": found[revid].summary,
                    "url": context.revision_url(revid)}
            for revid in found}


def directory_page(context: BrowseContext, revid: bytes, spec: str, path: str
                   ) -> dict[str, Any]:
    """The data of a directory listing page."""
    listing = trees.list_directory(context.branch.repository, revid, path)
    changes = _changes(context, [entry.last_changed for entry in listing.entries])
    return {**_base(context, revid, spec, listing.path, "files"), "listing": listing,
            "changes": changes, "limit": trees.MAX_LISTING_ENTRIES}


def directory_json(page: dict[str, Any]) -> dict[str, Any]:
    """A directory listing as JSON."""
    listing: trees.DirectoryListing = page["listing"]
    return {"path": listing.path, "revision_id": page["revid"].decode(),
            "total": listing.total, "truncated": listing.truncated,
            "entries": [{"name": e.name, "path": e.path, "kind": e.kind, "size": e.size,
                         "executable": e.executable, "target": e.target,
                         "last_changed": page["changes"].get(e.last_changed)}
                        for e in listing.entries]}


def file_page(context: BrowseContext, revid: bytes, spec: str, path: str) -> dict[str, Any]:
    """The data of a file view: its lines highlighted, or why they are not shown."""
    text = trees.read_file(context.branch.repository, revid, path)
    lines = _lines(text.text)
    return {**_base(context, revid, spec, text.entry.path, "files"), "file": text,
            "rows": numbered_rows(highlighted(context, text.entry, lines)), "text": lines,
            "change": _changes(context, [text.entry.last_changed]).get(text.entry.last_changed),
            "max_bytes": trees.MAX_VIEW_BYTES, "max_lines": trees.MAX_VIEW_LINES,
            "max_read": trees.MAX_READ_BYTES}


def numbered_rows(lines: list[Markup], revisions: list[Markup] | None = None) -> Markup:
    """The ``<tr>`` of each line: its ``L<n>`` anchor and number, its code, and (annotate)
    a revision cell, where an empty one continues the run above.

    Built here, not in a Jinja loop: the loop cost 60 ms for 2,000 lines (escaping each
    number three times), this join a few.
    """
    rows = []
    for n, line in enumerate(lines, 1):
        cells = (f'<td class="ln"><a href="#L{n}">{n}</a></td>'
                 f'<td class="src"><code>{line}</code></td>')
        if revisions is None:
            rows.append(f'<tr id="L{n}">{cells}</tr>')
        else:
            revision = revisions[n - 1]
            first = ' class="first"' if revision else ""
            rows.append(f'<tr id="L{n}"{first}><td class="rev">{revision}</td>{cells}</tr>')
    return Markup("\n".join(rows))


def highlighted(context: BrowseContext, entry: trees.TreeEntry, lines: list[str]
                ) -> list[Markup]:
    """``lines`` of file ``entry`` highlighted, from the line cache when done before.

    Pygments' Python lexer runs at ~50 KB/s here: a 2,000-line file (112 KB) took 1.8 s,
    so the result is kept, under its text's key, for every worker of the node (a repeat:
    a few ms). Text over HIGHLIGHT_MAX_BYTES is only escaped, which bounds a first view.
    """
    if not lines or sum(map(len, lines)) > HIGHLIGHT_MAX_BYTES:
        return plain_lines(lines)
    key = line_key("highlight", context.location.codebase, entry.file_id, entry.last_changed,
                   posixpath.basename(entry.path), str(len(lines)), PYGMENTS_VERSION)
    cache = line_cache()
    kept = cache.get(key)
    if kept is not None and len(kept) == len(lines):
        return [Markup(line.decode("utf-8")) for line in kept]
    result = highlight_lines(entry.path, lines)
    cache.put(key, [line.encode("utf-8") for line in result])
    return result


def _lines(text: bytes) -> list[str]:
    """``text`` decoded (bad UTF-8 replaced), split at newlines only, as numbered lines."""
    if not text:
        return []
    lines = text.decode("utf-8", "replace").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def file_json(page: dict[str, Any]) -> dict[str, Any]:
    """A file view as JSON: the text itself (bad UTF-8 replaced), or null when not shown."""
    text: trees.FileText = page["file"]
    return {"path": text.entry.path, "revision_id": page["revid"].decode(),
            "size": text.entry.size, "executable": text.entry.executable,
            "binary": text.binary, "too_large": text.too_large, "truncated": text.truncated,
            "last_changed": page["change"],
            "text": "".join(f"{line}\n" for line in page["text"]) if text.shown else None}


def annotate_page(context: BrowseContext, revid: bytes, spec: str, annotation: Annotation
                  ) -> dict[str, Any]:
    """The data of an annotate page: each line, its revision and who made it."""
    entry = annotation.entry
    revids = [line_revid for line_revid, _ in annotation.lines]
    text = _lines(b"".join(line for _, line in annotation.lines))
    changes = _changes(context, revids)
    cells = [Markup("") if n and revids[n - 1] == line_revid else _revision_cell(
                 line_revid, changes.get(line_revid)) for n, line_revid in enumerate(revids)]
    return {**_base(context, revid, spec, entry.path, "files"), "annotation": annotation,
            "revids": revids, "text": text, "changes": changes,
            "rows": numbered_rows(highlighted(context, entry, text), cells)}


def _revision_cell(revid: bytes, change: dict[str, Any] | None) -> Markup:
    """The annotate column of the first line of a run: revno (linked) and author's name."""
    if change is None:  # a ghost: the repository lacks the revision
        return escape(revid.decode("utf-8", "replace")[:12])
    author = change["author"].split("<")[0].strip() or change["author"]
    # Markup.format costs ten times this for the same escaping (measured: 30 ms a page).
    label = change["revno"] or change["revision_id"][:12]
    return Markup(f'<a href="{escape(change["url"])}" title="{escape(change["summary"])}">'
                  f'{escape(label)}</a> <span class="who">{escape(author)}</span>')


def annotate_json(page: dict[str, Any]) -> dict[str, Any]:
    """An annotation as JSON: the revisions once, then each line naming one."""
    annotation: Annotation = page["annotation"]
    return {"path": annotation.entry.path, "revision_id": page["revid"].decode(),
            "reason": annotation.reason,
            "revisions": {revid.decode(): change for revid, change in page["changes"].items()},
            "lines": [{"revision_id": revid.decode(), "text": text}
                      for revid, text in zip(page["revids"], page["text"], strict=False)]}


def raw_response(context: BrowseContext, revid: bytes, path: str) -> Response:
    """A file's bytes, streamed: text as ``text/plain``, binaries as an attachment."""
    entry, chunks = trees.stream_file(context.branch.repository, revid, path)
    first = next(chunks, b"")
    headers = {**RAW_SECURITY_HEADERS, "Content-Length": str(entry.size or 0)}
    if trees.is_binary(first):
        mimetype = "application/octet-stream"
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(entry.name)}"
    else:
        mimetype = "text/plain; charset=utf-8"
    return Response(_prepend(first, chunks), content_type=mimetype, headers=headers)


def _prepend(first: bytes, rest: Any) -> Any:
    """``first``, then what ``rest`` yields; closing this closes ``rest`` (its lock)."""
    try:
        if first:
            yield first
        yield from rest
    finally:
        rest.close()


def archive_name(context: BrowseContext, revid: bytes) -> str:
    """A tarball's name (and its top directory): the branch and the revision."""
    revno = history_of(context.branch).revno(revid)
    label = f"r{revno}" if revno else quote_revid(revid).replace("%", "")[:40]
    return "-".join((*context.location.path.split("/"), label))


def tarball_response(context: BrowseContext, revid: bytes) -> Response:
    """The tree of ``revid`` as a streamed ``.tar.gz`` download."""
    name = archive_name(context, revid)
    chunks = write_tarball(context.branch.repository, revid, name)
    return Response(chunks, mimetype="application/gzip", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.tar.gz"})
