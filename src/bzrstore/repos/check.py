"""``brz check`` of whole codebases, optionally healing first: what was found, as data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from breezy import errors

from bzrstore.repos.branches import branch_transport
from bzrstore.repos.controldirs import check_repository
from bzrstore.repos.repair import remove_stale_staging, repair_codebase


@dataclass(frozen=True)
class Finding:
    """One line of a check: about ``codebase`` (None: the repositories directory)."""

    codebase: str | None
    text: str
    failed: bool = False


def stored_codebases(repos_dir: Path) -> list[str]:
    """Names of the repository directories under ``repos_dir`` (staging ones left out)."""
    return sorted(p.name for p in repos_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_codebases(repos_dir: Path, codebases: list[str],
                    repair: bool = False) -> Iterator[Finding]:
    """Verify each codebase like ``brz check`` (healing first if asked), as it goes."""
    if repair:
        for staging in remove_stale_staging(repos_dir):
            yield Finding(None, f"removed staging directory {staging}")
    for name in codebases or stored_codebases(repos_dir):
        try:
            transport = branch_transport(repos_dir, name)
            for line in repair_codebase(repos_dir / name, transport) if repair else ():
                yield Finding(name, line)
            check_repository(transport)
        except (errors.BzrError, OSError) as exc:
            yield Finding(name, str(exc), failed=True)
        else:
            yield Finding(name, "ok")
