"""Fixtures of the smart path's WSGI-level tests: the seeded app with a 4 KiB body limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from webtest import TestApp

from helpers import store_of


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"max_body_bytes": 4096}


@pytest.fixture
def web(seeded: Flask) -> TestApp:
    return TestApp(seeded)


@pytest.fixture
def repos(seeded: Flask) -> Path:
    return store_of(seeded).settings.repos_dir
