"""The Flask face: listings, diffs, remotes, admin, browsing, robots.txt and the operator's
endpoints."""

from __future__ import annotations

from flask import Flask

from bzrstore.store import Store
from bzrstore.web.admin import admin
from bzrstore.web.browsing import browse
from bzrstore.web.budget import install_budget
from bzrstore.web.diffs import diffs
from bzrstore.web.files import files
from bzrstore.web.history import history
from bzrstore.web.listings import listings
from bzrstore.web.ops import ops
from bzrstore.web.page_cache import install_page_cache
from bzrstore.web.preamble import STORE_KEY, install_preamble
from bzrstore.web.remotes import remotes
from bzrstore.web.revision import revision
from bzrstore.web.robots import robots


def create_web_app(store: Store) -> Flask:
    """The Flask app over ``store``: every blueprint, the request hooks, the error handlers."""
    app = Flask(__name__)
    app.extensions[STORE_KEY] = store
    for blueprint in (ops, robots, diffs, listings, remotes, admin, browse, history,
                      revision, files):
        app.register_blueprint(blueprint)
    install_preamble(app)
    install_budget(app)
    install_page_cache(app, store.settings.page_cache_bytes)
    return app
