"""Fixtures of the real-browser tests (``test_browser*.py``): chromium and its driver."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Playwright, sync_playwright
from webtest import TestApp

from browsers import CHROMIUM
from helpers import Browsing, make_browse_history, starts_processes, store_of


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of Debian's chromium; skip without it, except under CI, where it must be there."""
    path = shutil.which(CHROMIUM)
    if path is None:
        reason = f"{CHROMIUM} is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
@starts_processes
def playwright() -> Iterator[Playwright]:
    """The Playwright driver (shipped in its wheel; it drives our chromium, not its own)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browsing(seeded: Flask, web: TestApp) -> Browsing:
    """alpha's main/trunk with the browse history written into it."""
    return Browsing(web, make_browse_history(store_of(seeded).settings.repos_dir / "alpha"))
