"""gunicorn settings for the test servers: the project's ``gunicorn.conf.py``, and one change.

Breezy waits 30 s for a lock held by someone else before it answers ``LockContention``
(``breezy.lockdir._DEFAULT_TIMEOUT_SECONDS``), so a test that meets a held lock would
sleep 30 s. The test servers wait ``BZRSTORE_TEST_LOCK_WAIT_SECONDS`` instead (set by
``servers.Gunicorn``); the product keeps Breezy's wait.
"""

import os
from pathlib import Path

_PROJECT_CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
# Every setting and hook of the project's file, exactly as gunicorn would read it.
exec(compile(_PROJECT_CONF.read_text(), str(_PROJECT_CONF), "exec"))
_project_post_worker_init = globals()["post_worker_init"]


def post_worker_init(worker):
    """The project's hook, then the short lock wait in this worker's Breezy."""
    _project_post_worker_init(worker)
    from breezy import lockdir

    lockdir._DEFAULT_TIMEOUT_SECONDS = float(os.environ["BZRSTORE_TEST_LOCK_WAIT_SECONDS"])
