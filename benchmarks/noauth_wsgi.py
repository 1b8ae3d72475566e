"""gunicorn entry point of the ``bzrstore-noauth`` benchmark candidate.

bzrstore's streaming smart-server app mounted writable on a plain directory, with no
registry and no authentication: ``POST /<relpath>/.bzr/smart`` for branches under the
root.  It is the yardstick for the cost of authentication on push::

    BZRSTORE_NOAUTH_ROOT=/srv/bzr gunicorn --chdir benchmarks -b 127.0.0.1:8000 noauth_wsgi:app
"""

import os
from pathlib import Path

from bzrstore.smart.app import make_standalone_app

app = make_standalone_app(Path(os.environ["BZRSTORE_NOAUTH_ROOT"]), writable=True)
