"""Which listener is internal: gunicorn's binds and the worker's matching of its sockets."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from gunicorn import util
from gunicorn.config import Config

from bzrstore.node.listeners import add_internal_bind, internal_listener_names, keep_internal_bind


class Listener:
    def __init__(self, cfg_addr, name) -> None:
        self.cfg_addr, self.name = cfg_addr, name

    def getsockname(self):
        return self.name


def config(*binds: str) -> Config:
    cfg = Config()
    cfg.set("bind", list(binds))
    return cfg


def test_internal_bind_is_added_after_the_public_ones():
    cfg = config("127.0.0.1:8000")
    add_internal_bind(cfg, "10.0.0.1:9929")
    assert cfg.bind == ["127.0.0.1:8000", "10.0.0.1:9929"]
    assert cfg.address == [("127.0.0.1", 8000), ("10.0.0.1", 9929)]


def test_no_internal_bind_changes_nothing():
    cfg = config("127.0.0.1:8000")
    add_internal_bind(cfg, "")
    assert cfg.bind == ["127.0.0.1:8000"]


def test_a_public_bind_can_never_be_the_internal_one():
    with pytest.raises(ValueError, match="also a public bind"):
        add_internal_bind(config("0.0.0.0:9929"), "0.0.0.0:9929")


def test_reload_keeps_the_internal_bind():
    cfg = config("127.0.0.1:8000")
    app = SimpleNamespace(cfg=cfg)

    def load_config() -> None:  # what gunicorn's reload does: the config read anew
        app.cfg = config("127.0.0.1:8000")

    app.load_config = load_config
    server = SimpleNamespace(cfg=cfg, app=app)
    keep_internal_bind(server, "127.0.0.1:9929")
    assert cfg.bind == ["127.0.0.1:8000", "127.0.0.1:9929"]
    app.load_config()
    assert app.cfg.bind == ["127.0.0.1:8000", "127.0.0.1:9929"]


def test_listeners_matched_by_configured_or_bound_address():
    public = Listener(("127.0.0.1", 0), ("127.0.0.1", 41000))
    internal = Listener(("127.0.0.1", 9929), ("127.0.0.1", 9929))
    inherited = Listener(("127.0.0.2", 9929), ("127.0.0.2", 9929))  # USR2: its bound name
    names = internal_listener_names([public, internal], "127.0.0.1:9929", util.parse_address)
    assert names == {("127.0.0.1", 9929)}
    assert internal_listener_names([public, inherited], "127.0.0.2:9929",
                                   util.parse_address) == {("127.0.0.2", 9929)}
    assert internal_listener_names([public, internal], "", util.parse_address) == set()
    assert internal_listener_names([public], "127.0.0.1:9929", util.parse_address) == set()


def test_unix_socket_listener():
    listener = Listener("/run/bzrstore/internal.sock", "/run/bzrstore/internal.sock")
    assert internal_listener_names([listener], "unix:/run/bzrstore/internal.sock",
                                   util.parse_address) == {"/run/bzrstore/internal.sock"}
