"""``bzrstore serve``: gunicorn with the packaged configuration, or werkzeug's server."""

from __future__ import annotations

from pathlib import Path

import pytest

import bzrstore
from bzrstore import cli
from bzrstore.cli import serve


def test_serve_execs_gunicorn_with_the_packaged_config(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))  # serve readies the registry first
    calls: list[tuple[str, list[str]]] = []

    def fake_execvp(file: str, argv: list[str]) -> None:
        calls.append((file, argv))
        raise SystemExit(0)

    monkeypatch.setattr(serve.os, "execvp", fake_execvp)
    with pytest.raises(SystemExit):
        cli.main(["serve", "--bind", "0.0.0.0:9000"])
    (file, argv), = calls
    conf = Path(bzrstore.__file__).parent / "gunicorn.conf.py"
    assert conf.is_file()
    assert argv[1:] == ["-m", "gunicorn", "-c", str(conf), "--bind", "0.0.0.0:9000"]
    assert file == argv[0]


def test_serve_dev_runs_werkzeug(monkeypatch, tmp_path: Path):
    seen: dict[str, object] = {}
    monkeypatch.setenv("BZRSTORE_DATA", str(tmp_path))
    monkeypatch.setattr(bzrstore, "create_app", lambda settings: ("app", settings.data))
    monkeypatch.setattr("werkzeug.serving.run_simple",
                        lambda host, port, app, threaded: seen.update(
                            host=host, port=port, app=app, threaded=threaded))
    assert cli.main(["serve", "--dev", "--bind", "[::1]:8123"]) == 0
    assert seen == {"host": "::1", "port": 8123, "app": ("app", tmp_path), "threaded": True}
